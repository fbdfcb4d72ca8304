// What a guest may call with http_send, decided before anything is sent: the allow-list patterns
// (docs/manifest.md, "outbound"), the URL checked against them, and the address classification
// (docs/abi.md, "Outbound HTTP"). The same rules as the Rust host
// (host/src/runtime/capabilities/outbound_http/{policy,address}.rs); both run docs/outbound-vectors.json.
// URLs and hosts are read as WHATWG URL reads them (fetch does too), so `127.1` is `127.0.0.1` and
// IPv6 literals compare in canonical form.

const DEFAULT_PORT = Object.freeze({ http: 80, https: 443 });
const PATTERN_SCHEMES = new Set(["http", "https", "*"]);
// Host names after WHATWG's mapping (lower case, punycode): letters, digits, `-` and `_` per label.
const NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const PATTERN_SHAPE =
  "expected scheme://host[:port], e.g. https://api.example.com, https://*.example.com or http://127.0.0.1:*";

/** An allow-list pattern that is not valid; the message names it and says why. */
export class PatternError extends Error {
  constructor(pattern, why) {
    super(`allowed host pattern ${JSON.stringify(pattern)} is not valid: ${why} (${PATTERN_SHAPE})`);
    this.name = "PatternError";
    this.pattern = pattern;
  }
}

/** The host part of a URL or pattern as WHATWG URL serializes it, or undefined if it is none. */
function canonicalHost(host) {
  try {
    const hostname = new URL(`http://${host}/`).hostname;
    return hostname === "" ? undefined : hostname;
  } catch {
    return undefined;
  }
}

const isIpLiteral = (hostname) => hostname.startsWith("[") || IPV4.test(hostname);

/**
 * Parses one pattern `scheme://host[:port]` into `{ text, scheme, host, port }`: `scheme` is
 * "http", "https" or "*"; `host` is `{ any: true }`, `{ suffix: "example.com" }` (for
 * `*.example.com`) or `{ exact: "api.example.com" }` (names, IPv4, `[IPv6]`, canonical); `port` is
 * a number, "*" or undefined for the URL's scheme's default. Throws PatternError.
 */
export function parsePattern(text) {
  const bad = (why) => {
    throw new PatternError(text, why);
  };
  const shape = /^([^:/?#]*):\/\/(.*)$/s.exec(text);
  if (!shape) bad("a scheme and :// are required");
  const scheme = shape[1].toLowerCase();
  if (!PATTERN_SCHEMES.has(scheme)) bad("the scheme must be http, https or *");
  const rest = shape[2];
  if (/[/?#]/.test(rest)) bad("a pattern is an origin: no path, query or fragment");
  if (rest.includes("@")) bad("credentials are not allowed");

  let hostText = rest;
  let portText;
  const close = rest.startsWith("[") ? rest.indexOf("]") : -1;
  const colon = rest.indexOf(":", close + 1);
  if (rest.startsWith("[") && close < 0) bad("an IPv6 address needs its closing ]");
  if (colon >= 0) {
    if (close >= 0 && colon !== close + 1) bad("unexpected characters after the IPv6 address");
    hostText = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
  } else if (close >= 0 && close !== rest.length - 1) {
    bad("unexpected characters after the IPv6 address");
  }

  let port;
  if (portText !== undefined) {
    if (portText === "") bad("the port is empty; leave out the colon for the scheme's default port");
    if (portText === "*") port = "*";
    else if (/^[0-9]{1,5}$/.test(portText) && Number(portText) >= 1 && Number(portText) <= 65535)
      port = Number(portText);
    else bad("the port must be 1 to 65535, or * for any; ranges are not supported");
  }

  let host;
  if (hostText === "") bad("a host is required");
  if (hostText === "*") {
    host = { any: true };
  } else if (hostText.startsWith("*.")) {
    const domain = hostText.slice(2);
    if (domain === "" || domain === ".") bad("a wildcard needs a domain after it, as in *.example.com");
    if (domain.includes("*")) bad("a wildcard may only be the whole first label, as in *.example.com");
    const suffix = canonicalHost(domain);
    if (suffix === undefined || !NAME.test(suffix)) bad(`${JSON.stringify(domain)} is not a domain name`);
    if (isIpLiteral(suffix)) bad("a wildcard applies to domain names, not IP addresses");
    host = { suffix };
  } else {
    if (hostText.includes("*")) bad("a wildcard may only be the whole first label, as in *.example.com");
    const exact = canonicalHost(hostText);
    if (exact === undefined || !(isIpLiteral(exact) || NAME.test(exact))) {
      bad(`${JSON.stringify(hostText)} is not a host name or IP address`);
    }
    host = { exact };
  }
  return Object.freeze({ text, scheme, host, port });
}

/**
 * The patterns of an allow-list: a string with patterns separated by commas or spaces, or an
 * array of pattern strings (a JSON var). Throws PatternError for the first that is not valid.
 */
export function parseAllowedHosts(value) {
  const texts = Array.isArray(value) ? value : String(value).split(/[\s,]+/);
  return Object.freeze(texts.filter((t) => t !== "").map((t) => parsePattern(String(t))));
}

function matches(pattern, scheme, hostname, port) {
  if (pattern.scheme !== "*" && pattern.scheme !== scheme) return false;
  const wanted = pattern.port === "*" ? port : (pattern.port ?? DEFAULT_PORT[scheme]);
  if (port !== wanted) return false;
  if (pattern.host.any) return true;
  if (pattern.host.suffix !== undefined) return hostname.endsWith(`.${pattern.host.suffix}`);
  return hostname === pattern.host.exact;
}

/**
 * Checks `raw` (the URL a guest asked for) against `patterns`. Returns `{ result: "allowed", url }`
 * with the URL to send (fragment dropped), or `{ result: "denied" | "invalid", message }`.
 */
export function checkUrl(raw, patterns) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    return { result: "invalid", message: `${JSON.stringify(raw)} is not an absolute http or https URL` };
  }
  const scheme = url.protocol.slice(0, -1);
  if (DEFAULT_PORT[scheme] === undefined) {
    return { result: "invalid", message: `${JSON.stringify(raw)}: only http and https URLs can be called` };
  }
  if (url.username !== "" || url.password !== "") {
    return { result: "invalid", message: `${url.origin}: credentials in the URL are refused; send them in a header` };
  }
  url.hash = "";
  const port = url.port === "" ? DEFAULT_PORT[scheme] : Number(url.port);
  if (patterns.some((p) => matches(p, scheme, url.hostname, port))) return { result: "allowed", url };
  return {
    result: "denied",
    message: `${url.origin} is not in the function's allowed hosts (outbound.allowed_hosts, EDGEFN_OUTBOUND_ALLOWED_HOSTS)`,
  };
}

function ipv4Octets(text) {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

function isGlobalIpv4([a, b, c]) {
  return !(
    a === 0 || // "this network"
    a === 10 || // private
    (a === 100 && b >= 64 && b <= 127) || // CGNAT shared space
    a === 127 || // loopback
    (a === 169 && b === 254) || // link-local (cloud metadata endpoints)
    (a === 172 && b >= 16 && b <= 31) || // private
    (a === 192 && b === 0 && c === 0) || // IETF protocol assignments
    (a === 192 && b === 0 && c === 2) || // documentation
    (a === 192 && b === 88 && c === 99) || // deprecated 6to4 relays
    (a === 192 && b === 168) || // private
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    (a === 198 && b === 51 && c === 100) || // documentation
    (a === 203 && b === 0 && c === 113) || // documentation
    a >= 224 // multicast, reserved, broadcast
  );
}

/** The eight 16-bit groups of an IPv6 address in WHATWG's canonical form (no embedded IPv4). */
function ipv6Groups(text) {
  const hostname = canonicalHost(`[${text}]`);
  if (hostname === undefined) return undefined;
  const inner = hostname.slice(1, -1);
  const [head, tail] = inner.includes("::") ? inner.split("::") : [inner, undefined];
  const parse = (part) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const front = parse(head);
  if (tail === undefined) return front;
  const back = parse(tail);
  return [...front, ...new Array(8 - front.length - back.length).fill(0), ...back];
}

const embeddedIpv4 = (hi, lo) => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff];

function isGlobalIpv6(g) {
  // Forms that carry an IPv4 address are judged by it: IPv4-mapped (::ffff:a.b.c.d),
  // IPv4-compatible (::a.b.c.d, including :: and ::1), NAT64 (64:ff9b::a.b.c.d), 6to4 (2002:AABB:CCDD::).
  const zeros = (from, to) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && (g[5] === 0xffff || g[5] === 0)) return isGlobalIpv4(embeddedIpv4(g[6], g[7]));
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return isGlobalIpv4(embeddedIpv4(g[6], g[7]));
  if (g[0] === 0x2002) return isGlobalIpv4(embeddedIpv4(g[1], g[2]));
  // Only global unicast (2000::/3) is public: unique-local, link-local, multicast, the discard
  // prefix and the rest lie outside it. Inside it: IETF protocol assignments (2001::/23, Teredo
  // among them) and documentation (2001:db8::/32, 3fff::/20).
  if ((g[0] & 0xe000) !== 0x2000) return false;
  if (g[0] === 0x2001 && g[1] < 0x200) return false;
  if (g[0] === 0x2001 && g[1] === 0xdb8) return false;
  return (g[0] & 0xfff0) !== 0x3ff0;
}

/**
 * Whether `ip` (an IPv4 address in dotted form or an IPv6 address without brackets) is public:
 * reachable without `allow_private_networks`. Throws TypeError when `ip` is not an address.
 */
export function isGlobalAddress(ip) {
  if (ip.includes(":")) {
    const groups = ipv6Groups(ip);
    if (groups === undefined || groups.length !== 8) throw new TypeError(`${JSON.stringify(ip)} is not an IP address`);
    return isGlobalIpv6(groups);
  }
  const octets = ipv4Octets(ip);
  if (octets === undefined) throw new TypeError(`${JSON.stringify(ip)} is not an IP address`);
  return isGlobalIpv4(octets);
}

/**
 * Why `url` must not be called without `allow_private_networks`, or undefined when nothing says
 * so here: its host is an IP literal that is not public, or the name localhost (or a name below
 * it). Other names are resolved by the platform (Cloudflare's fetch cannot reach private networks;
 * local workerd's network service refuses them).
 */
export function privateTarget(url) {
  const host = url.hostname;
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name === "localhost" || name.endsWith(".localhost")) {
    return `${url.origin}: ${host} is a loopback name, refused unless the function allows private networks (EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS)`;
  }
  if (!isIpLiteral(host)) return undefined;
  const ip = host.startsWith("[") ? host.slice(1, -1) : host;
  if (isGlobalAddress(ip)) return undefined;
  return `${url.origin}: ${ip} is not a public address, refused unless the function allows private networks (EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS)`;
}
