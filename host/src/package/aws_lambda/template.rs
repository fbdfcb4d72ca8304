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
/// The key-value stores' DynamoDB table, declared when the function is granted stores.
pub(crate) const KV_TABLE_ID: &str = "KvTable";
/// The DynamoDB calls the runtime's key-value backend makes.
const KV_ACTIONS: [&str; 4] = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
];

/// Where a function granted stores keeps them.
enum KvTable {
    /// In a table the template declares.
    Declared,
    /// In a table that exists already, by name.
    Existing(String),
}

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
    /// The table behind the function's stores, `None` when it is granted none.
    fn kv_table(&self) -> Option<KvTable> {
        let env = self.settings.environment();
        let get = |name: &str| {
            env.iter()
                .find(|(k, v)| k == name && !v.trim().is_empty())
                .map(|(_, v)| v.trim().to_owned())
        };
        get(crate::runtime::capabilities::kv::STORES_VAR)?;
        Some(
            match get(crate::platform::aws_lambda::dynamodb::TABLE_VAR) {
                Some(name) => KvTable::Existing(name),
                None => KvTable::Declared,
            },
        )
    }

    /// The template as YAML text.
    pub(crate) fn render(&self) -> String {
        let s = self.settings;
        let kv_table = self.kv_table();
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
        if let Some(KvTable::Declared) = kv_table {
            let _ = write!(
                w,
                "  # The key-value stores the function is granted (EDGEFN_KV_STORES), one item per key:
  # pk = store name, sk = key, v = value, exp = expiry (Unix seconds, which DynamoDB's TTL
  # deletes some time after; the runtime never returns an expired key). Kept when the stack is
  # deleted or the table replaced: it holds the app's data.
  {KV_TABLE_ID}:
    Type: \"AWS::DynamoDB::Table\"
    DeletionPolicy: \"Retain\"
    UpdateReplacePolicy: \"Retain\"
    Properties:
      BillingMode: \"PAY_PER_REQUEST\"
      AttributeDefinitions:
        - AttributeName: \"pk\"
          AttributeType: \"S\"
        - AttributeName: \"sk\"
          AttributeType: \"S\"
      KeySchema:
        - AttributeName: \"pk\"
          KeyType: \"HASH\"
        - AttributeName: \"sk\"
          KeyType: \"RANGE\"
      TimeToLiveSpecification:
        AttributeName: \"exp\"
        Enabled: true
"
            );
        }
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
"
        );
        if let Some(table) = &kv_table {
            let resource = match table {
                KvTable::Declared => format!("Fn::GetAtt: [{KV_TABLE_ID:?}, \"Arn\"]"),
                KvTable::Existing(name) => format!(
                    "Fn::Sub: {}",
                    quoted(&format!(
                        "arn:${{AWS::Partition}}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/{name}"
                    ))
                ),
            };
            let _ = writeln!(
                w,
                "      # The key-value stores' table: the calls the runtime makes on it, nothing else.
      Policies:
        - PolicyName: \"edgefn-kv\"
          PolicyDocument:
            Version: \"2012-10-17\"
            Statement:
              - Effect: \"Allow\"
                Action:"
            );
            for action in KV_ACTIONS {
                let _ = writeln!(w, "                  - {}", quoted(action));
            }
            let _ = writeln!(w, "                Resource:\n                  {resource}");
        }
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
        if let Some(KvTable::Declared) = kv_table {
            let _ = writeln!(
                w,
                "          {}:\n            Ref: {KV_TABLE_ID:?}",
                crate::platform::aws_lambda::dynamodb::TABLE_VAR
            );
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
    fn a_function_granted_no_store_gets_no_table() {
        let text = render(&settings(&[("GREETING", "hi")]));
        assert!(!text.contains("AWS::DynamoDB::Table"), "{text}");
        assert!(!text.contains("Policies:"), "{text}");
        assert!(!text.contains("EDGEFN_KV_DYNAMODB_TABLE"), "{text}");
    }

    #[test]
    fn a_function_granted_stores_gets_its_table_and_policy() {
        let text = render(&settings(&[("EDGEFN_KV_STORES", "default,sessions")]));
        for block in [
            "  KvTable:\n    Type: \"AWS::DynamoDB::Table\"\n    DeletionPolicy: \"Retain\"",
            "      KeySchema:\n        - AttributeName: \"pk\"\n          KeyType: \"HASH\"\n        - AttributeName: \"sk\"\n          KeyType: \"RANGE\"",
            "      TimeToLiveSpecification:\n        AttributeName: \"exp\"\n        Enabled: true",
            "                  - \"dynamodb:Query\"\n                Resource:\n                  Fn::GetAtt: [\"KvTable\", \"Arn\"]",
            "          EDGEFN_KV_STORES: \"default,sessions\"\n          EDGEFN_KV_DYNAMODB_TABLE:\n            Ref: \"KvTable\"",
        ] {
            assert!(text.contains(block), "{block:?} in:\n{text}");
        }
        for action in KV_ACTIONS {
            assert!(text.contains(&format!("- \"{action}\"")), "{action}");
        }
    }

    #[test]
    fn stores_in_an_existing_table_get_the_policy_only() {
        let text = render(&settings(&[
            ("EDGEFN_KV_STORES", "default"),
            ("EDGEFN_KV_DYNAMODB_TABLE", "shared-kv"),
        ]));
        assert!(!text.contains("AWS::DynamoDB::Table"), "{text}");
        assert!(
            text.contains("Fn::Sub: \"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/shared-kv\""),
            "{text}"
        );
        assert!(
            text.contains("          EDGEFN_KV_DYNAMODB_TABLE: \"shared-kv\""),
            "{text}"
        );
        assert!(!text.contains("Ref: \"KvTable\""), "{text}");
    }
}
