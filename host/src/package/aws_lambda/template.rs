//! The CloudFormation template `edgefn package --target aws-lambda` writes beside the zip: the
//! function on `provided.al2023` with its execution role and a public Function URL, deployable
//! with `sam deploy` (which uploads the zip) or `aws cloudformation package` + `deploy`.
//!
//! Plain CloudFormation resources, not SAM's `AWS::Serverless::Function`: cfn-lint checks them
//! against the resource schemas (architectures, runtimes, timeouts, references), and the template
//! says exactly what gets created. Intrinsic functions are in their long form (`Fn::GetAtt:`,
//! `Ref:`), so the file is plain YAML any parser reads. Every string is written as a JSON string,
//! which is a valid YAML double-quoted scalar.

use super::LambdaSettings;
use std::fmt::Write as _;

/// The logical ids of the template's resources (also named by the tests and the deploy guide).
pub(crate) const FUNCTION_ID: &str = "Function";
/// The function's execution role.
pub(crate) const ROLE_ID: &str = "ExecutionRole";
/// The Function URL.
pub(crate) const URL_ID: &str = "FunctionUrl";

/// What the template describes.
pub(crate) struct Template<'a> {
    /// The Lambda function's name (`--name`), which the guest sees as its function name.
    pub function_name: &'a str,
    /// The zip's file name, relative to the template (the template is written beside it).
    pub zip_file: &'a str,
    /// The module's file name inside the zip: the function's handler.
    pub module_file: &'a str,
    /// Lambda's name of the architecture (`x86_64`, `arm64`).
    pub architecture: &'a str,
    /// Memory, deadline and environment.
    pub settings: &'a LambdaSettings,
}

/// JSON string syntax, a YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

impl Template<'_> {
    /// The template as YAML text.
    pub(crate) fn render(&self) -> String {
        let s = self.settings;
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "# The edgefn function {name} on AWS Lambda, written by `edgefn package --target aws-lambda`\n\
             # beside {zip}. Deploy it (sam uploads the zip to S3 and creates the stack):\n\
             #   sam deploy --template-file <this file> --stack-name {stack} --resolve-s3 --capabilities CAPABILITY_IAM",
            name = self.function_name,
            zip = self.zip_file,
            stack = stack_name(self.function_name),
        );
        let _ = writeln!(w, "AWSTemplateFormatVersion: \"2010-09-09\"");
        let _ = writeln!(
            w,
            "Description: {}",
            quoted(&format!(
                "edgefn function {}: a WebAssembly module on the provided.al2023 runtime, with a public Function URL",
                self.function_name
            ))
        );
        let _ = writeln!(w, "Resources:");
        // Key-value storage is a later edgefn feature; its two parts have their places marked.
        let _ = writeln!(
            w,
            "  # Key-value storage (a later edgefn release) declares the function's table here."
        );
        let _ = write!(
            w,
            "  {ROLE_ID}:
    Type: \"AWS::IAM::Role\"
    Properties:
      AssumeRolePolicyDocument:
        Version: \"2012-10-17\"
        Statement:
          - Effect: \"Allow\"
            Principal:
              Service: \"lambda.amazonaws.com\"
            Action: \"sts:AssumeRole\"
      # CloudWatch Logs, all the runtime itself needs.
      ManagedPolicyArns:
        - Fn::Sub: \"arn:${{AWS::Partition}}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\"
      # Key-value storage adds the policy granting the function its table here (Policies:).
"
        );
        let _ = write!(
            w,
            "  {FUNCTION_ID}:
    Type: \"AWS::Lambda::Function\"
    Properties:
      FunctionName: {name}
      Code: {zip}
      Runtime: \"provided.al2023\"
      Handler: {module}
      Architectures:
        - {arch}
      # The guest's memory limit (EDGEFN_MEMORY_MB) and {headroom} MiB for the runtime.
      MemorySize: {memory}
      # A second past the guest's deadline (EDGEFN_DEADLINE_MS), so the runtime stops a slow guest
      # itself and reports edgefn.Timeout before Lambda's own timeout would end the environment.
      Timeout: {timeout}
      Role:
        Fn::GetAtt: [{ROLE_ID:?}, \"Arn\"]
      Environment:
        Variables:
",
            name = quoted(self.function_name),
            zip = quoted(self.zip_file),
            module = quoted(self.module_file),
            arch = quoted(self.architecture),
            headroom = crate::platform::aws_lambda::RUNTIME_MEMORY_HEADROOM_MB,
            memory = s.lambda_memory_mb(),
            timeout = s.lambda_timeout_s(),
        );
        for (key, value) in s.environment() {
            // Keys are checked to be [A-Za-z][A-Za-z0-9_]*: plain YAML keys.
            let _ = writeln!(w, "          {key}: {}", quoted(&value));
        }
        let _ = write!(
            w,
            "  {URL_ID}:
    Type: \"AWS::Lambda::Url\"
    Properties:
      TargetFunctionArn:
        Fn::GetAtt: [{FUNCTION_ID:?}, \"Arn\"]
      AuthType: \"NONE\"
  # Anyone may call the URL, as on the local host (the function does its own authorization). A
  # public URL needs both permissions; the second allows InvokeFunction only through the URL.
  FunctionUrlPublicAccess:
    Type: \"AWS::Lambda::Permission\"
    Properties:
      FunctionName:
        Ref: {FUNCTION_ID:?}
      Action: \"lambda:InvokeFunctionUrl\"
      Principal: \"*\"
      FunctionUrlAuthType: \"NONE\"
  FunctionUrlPublicInvoke:
    Type: \"AWS::Lambda::Permission\"
    Properties:
      FunctionName:
        Ref: {FUNCTION_ID:?}
      Action: \"lambda:InvokeFunction\"
      Principal: \"*\"
      InvokedViaFunctionUrl: true
Outputs:
  FunctionName:
    Description: \"The Lambda function\"
    Value:
      Ref: {FUNCTION_ID:?}
  FunctionUrl:
    Description: \"The function's public HTTPS URL\"
    Value:
      Fn::GetAtt: [{URL_ID:?}, \"FunctionUrl\"]
"
        );
        out
    }
}

/// A CloudFormation stack name for the function: letters, digits and `-`, starting with a letter.
pub(crate) fn stack_name(function_name: &str) -> String {
    format!("edgefn-{}", function_name.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> LambdaSettings {
        LambdaSettings::new(
            256,
            2500,
            env.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .unwrap()
    }

    fn render(settings: &LambdaSettings) -> String {
        Template {
            function_name: "my_fn",
            zip_file: "my_fn-aws-lambda.zip",
            module_file: "my_fn.wasm",
            architecture: "arm64",
            settings,
        }
        .render()
    }

    #[test]
    fn the_function_takes_its_memory_timeout_and_environment_from_the_settings() {
        let text = render(&settings(&[
            (
                "EDGEFN_OUTBOUND_ALLOWED_HOSTS",
                "https://a.test, https://b.test",
            ),
            ("GREETING", "say \"hi\"\n"),
        ]));
        for line in [
            "      FunctionName: \"my_fn\"",
            "      Code: \"my_fn-aws-lambda.zip\"",
            "      Handler: \"my_fn.wasm\"",
            "        - \"arm64\"",
            "      MemorySize: 304",
            "      Timeout: 4",
            "          EDGEFN_DEADLINE_MS: \"2500\"",
            "          EDGEFN_MEMORY_MB: \"256\"",
            "          EDGEFN_OUTBOUND_ALLOWED_HOSTS: \"https://a.test, https://b.test\"",
            "          GREETING: \"say \\\"hi\\\"\\n\"",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
        }
        assert!(text.contains("--stack-name edgefn-my-fn "), "{text}");
    }

    #[test]
    fn key_value_storage_has_its_places_marked() {
        let text = render(&settings(&[]));
        assert!(text.contains("declares the function's table here"));
        assert!(text.contains("adds the policy granting the function its table here"));
    }
}
