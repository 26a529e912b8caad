//! `${{ … }}` expressions and `if/then/else` selectors, evaluated over a recipe's context.
//!
//! Recipes are rendered before they are deserialized: every string is a template, and every list
//! item of the form `{if: EXPR, then: …, else: …}` is replaced by the branch its condition picks.
//! This module owns only the evaluation; it knows nothing about recipe fields.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, Value as JValue};
use serde_yaml::Value;

/// Failure to evaluate one expression.
#[derive(Debug, thiserror::Error)]
#[error("cannot evaluate `{expression}` at {path}: {reason}")]
pub struct ExprError {
    /// The expression as written.
    pub expression: String,
    /// Where in the recipe it stands (`build.script[0]`).
    pub path: String,
    /// What minijinja said.
    pub reason: String,
}

/// Evaluates expressions over a fixed set of variables.
pub struct Evaluator {
    env: Environment<'static>,
    vars: BTreeMap<String, JValue>,
}

impl Evaluator {
    /// Builds an evaluator whose variables are `vars` plus the platform selectors (`linux`,
    /// `unix`, `osx`, `win`, `x86_64`, `aarch64`, `target_platform`).
    pub fn new(target_platform: &str, vars: BTreeMap<String, String>) -> Self {
        let mut env = Environment::new();
        // An undefined name is a typo in a recipe, never an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_function("match", match_version);
        let mut all: BTreeMap<String, JValue> = BTreeMap::new();
        let (os, arch) = target_platform
            .split_once('-')
            .unwrap_or((target_platform, ""));
        all.insert("target_platform".into(), JValue::from(target_platform));
        all.insert("linux".into(), JValue::from(os == "linux"));
        all.insert("osx".into(), JValue::from(os == "osx"));
        all.insert("win".into(), JValue::from(os == "win"));
        all.insert("unix".into(), JValue::from(os == "linux" || os == "osx"));
        all.insert("x86_64".into(), JValue::from(arch == "64"));
        all.insert(
            "aarch64".into(),
            JValue::from(arch == "aarch64" || arch == "arm64"),
        );
        all.insert("noarch".into(), JValue::from(target_platform == "noarch"));
        for (k, v) in vars {
            all.insert(k, JValue::from(v));
        }
        Self { env, vars: all }
    }

    /// Adds or replaces one variable (context entries are added in order, so later ones can use
    /// earlier ones).
    pub fn set(&mut self, name: &str, value: String) {
        self.vars.insert(name.to_string(), JValue::from(value));
    }

    /// Evaluates a bare expression (a selector's `if`).
    pub fn eval_bool(&self, expression: &str, path: &str) -> Result<bool, ExprError> {
        Ok(self.eval(expression, path)?.is_true())
    }

    fn eval(&self, expression: &str, path: &str) -> Result<JValue, ExprError> {
        self.env
            .compile_expression(expression)
            .and_then(|compiled| compiled.eval(&self.vars))
            .map_err(|e| err(expression, path, &e))
    }

    /// Renders every `${{ expr }}` in `text`.
    pub fn render_str(&self, text: &str, path: &str) -> Result<String, ExprError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 3..];
            let Some(end) = after.find("}}") else {
                return Err(ExprError {
                    expression: rest[start..].to_string(),
                    path: path.to_string(),
                    reason: "unterminated `${{`: close it with `}}`".into(),
                });
            };
            let expression = after[..end].trim();
            let value = self.eval(expression, path)?;
            if value.is_undefined() {
                return Err(ExprError {
                    expression: expression.to_string(),
                    path: path.to_string(),
                    reason: "undefined variable".into(),
                });
            }
            out.push_str(&value.to_string());
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Renders a YAML tree: strings are templates, list items `{if, then, else}` are selectors.
    pub fn render_value(&self, value: &Value, path: &str) -> Result<Value, ExprError> {
        Ok(match value {
            Value::String(s) => {
                let rendered = self.render_str(s, path)?;
                // A field that was only a boolean expression is a boolean (`skip`); everything else
                // stays a string, so versions like `1.10` are never read as numbers.
                if s.trim_start().starts_with("${{") && s.trim_end().ends_with("}}") {
                    match rendered.as_str() {
                        "true" | "True" => Value::Bool(true),
                        "false" | "False" => Value::Bool(false),
                        _ => Value::String(rendered),
                    }
                } else {
                    Value::String(rendered)
                }
            }
            Value::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    if let Some(selected) = self.select(item, &item_path)? {
                        for v in selected {
                            out.push(self.render_value(&v, &item_path)?);
                        }
                    } else {
                        out.push(self.render_value(item, &item_path)?);
                    }
                }
                Value::Sequence(out)
            }
            Value::Mapping(map) => {
                let mut out = serde_yaml::Mapping::new();
                for (k, v) in map {
                    let key = k.as_str().unwrap_or_default();
                    let child = if path.is_empty() {
                        key.to_string()
                    } else {
                        format!("{path}.{key}")
                    };
                    out.insert(k.clone(), self.render_value(v, &child)?);
                }
                Value::Mapping(out)
            }
            other => other.clone(),
        })
    }

    /// For a selector item, the items it stands for; `None` when `item` is not a selector.
    fn select(&self, item: &Value, path: &str) -> Result<Option<Vec<Value>>, ExprError> {
        let Value::Mapping(map) = item else {
            return Ok(None);
        };
        let Some(condition) = map.get("if") else {
            return Ok(None);
        };
        let allowed = map
            .keys()
            .all(|k| matches!(k.as_str(), Some("if" | "then" | "else")));
        let Some(condition) = condition.as_str().filter(|_| allowed) else {
            return Err(ExprError {
                expression: format!("{item:?}"),
                path: path.to_string(),
                reason: "a selector has exactly the keys `if` (a string), `then` and `else`".into(),
            });
        };
        let branch = if self.eval_bool(condition, path)? {
            map.get("then")
        } else {
            map.get("else")
        };
        Ok(Some(match branch {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items.clone(),
            Some(other) => vec![other.clone()],
        }))
    }
}

fn err(expression: &str, path: &str, e: &minijinja::Error) -> ExprError {
    ExprError {
        expression: expression.to_string(),
        path: path.to_string(),
        reason: e.to_string(),
    }
}

/// `match(value, "spec")`: whether a version string satisfies a conda version spec, as in
/// rattler-build (`match(python, ">=3.10")`).
fn match_version(value: String, spec: String) -> Result<bool, minijinja::Error> {
    use rattler_conda_types::{ParseStrictness, Version, VersionSpec};
    use std::str::FromStr;
    let invalid =
        |what: String| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, what);
    let version = Version::from_str(&value).map_err(|e| invalid(format!("{value}: {e}")))?;
    let spec = VersionSpec::from_str(&spec, ParseStrictness::Lenient)
        .map_err(|e| invalid(format!("{spec}: {e}")))?;
    Ok(spec.matches(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluator() -> Evaluator {
        let mut vars = BTreeMap::new();
        vars.insert("name".to_string(), "Demo".to_string());
        vars.insert("version".to_string(), "1.2.3".to_string());
        Evaluator::new("linux-64", vars)
    }

    #[test]
    fn renders_filters_and_text() {
        let e = evaluator();
        assert_eq!(
            e.render_str("${{ name | lower }}-${{ version }}.tar.gz", "x")
                .unwrap(),
            "demo-1.2.3.tar.gz"
        );
        assert_eq!(e.render_str("no templates", "x").unwrap(), "no templates");
    }

    #[test]
    fn undefined_variable_is_an_error() {
        let e = evaluator();
        let error = e.render_str("${{ nmae }}", "package.name").unwrap_err();
        assert_eq!(error.path, "package.name");
        assert_eq!(error.expression, "nmae");
    }

    #[test]
    fn unterminated_expression_is_an_error() {
        assert!(evaluator().render_str("${{ name", "x").is_err());
    }

    #[test]
    fn selectors_pick_branches() {
        let e = evaluator();
        let yaml: Value = serde_yaml::from_str(
            "- a\n- if: linux\n  then: [b, c]\n  else: d\n- if: win\n  then: e\n- if: match(version, '>=1.2')\n  then: f\n",
        )
        .unwrap();
        let out = e.render_value(&yaml, "deps").unwrap();
        let out: Vec<String> = serde_yaml::from_value(out).unwrap();
        assert_eq!(out, ["a", "b", "c", "f"]);
    }

    #[test]
    fn whole_boolean_expression_is_a_boolean() {
        let mut e = evaluator();
        e.set("number", "3".into());
        let out = e
            .render_value(&Value::String("${{ number }}".into()), "build.number")
            .unwrap();
        assert_eq!(out, Value::String("3".into()));
        let out = e
            .render_value(&Value::String("${{ number == '3' }}".into()), "build.skip")
            .unwrap();
        assert_eq!(out, Value::Bool(true));
    }

    #[test]
    fn selector_with_stray_key_is_an_error() {
        let e = evaluator();
        let yaml: Value = serde_yaml::from_str("- if: linux\n  than: b\n").unwrap();
        assert!(e.render_value(&yaml, "deps").is_err());
    }
}
