"""A loopback OTLP/HTTP trace collector for host/tests/it/otlp.rs.

Decodes each POSTed ExportTraceServiceRequest with the official protobuf bindings
(PyPI opentelemetry-proto, installed by `scripts/setup.sh otel`) and prints it as one JSON
line on stdout; the first line is `listening <port>`. Answers 200 with an empty
ExportTraceServiceResponse, as a collector does, or 400 when the body does not decode.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(key_values):
    return {kv.key: value(kv.value) for kv in key_values}


class Collector(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as error:
            print(json.dumps({"path": self.path, "error": str(error)}), flush=True)
            self.send_response(400)
            self.end_headers()
            return
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                spans = [
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "flags": span.flags,
                        "name": span.name,
                        "kind": span.kind,
                        "start": span.start_time_unix_nano,
                        "end": span.end_time_unix_nano,
                        "attributes": attributes(span.attributes),
                        "status": {"code": span.status.code, "message": span.status.message},
                    }
                    for span in scope_spans.spans
                ]
                print(
                    json.dumps(
                        {
                            "path": self.path,
                            "content_type": self.headers.get("content-type"),
                            "api_key": self.headers.get("x-api-key"),
                            "resource": attributes(resource_spans.resource.attributes),
                            "scope": {
                                "name": scope_spans.scope.name,
                                "version": scope_spans.scope.version,
                            },
                            "spans": spans,
                        }
                    ),
                    flush=True,
                )
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
print(f"listening {server.server_address[1]}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
