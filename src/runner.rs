//! Talking to `scivision-runner` inside a model's prefix: how to start it (activated environment,
//! model.yml fields, weight caches under `SCIVISION_HOME`), the frame format (see
//! `python/scivision-runner/scivision_runner/protocol.py`), and `.npy` output files.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The version of the frame format this scivision speaks: the runner's ready frame says its own
/// (`protocol`; a runner from before the count sends none, which counts as 0). Raised on every
/// incompatible change of the format, in `protocol.py` and here together.
pub const PROTOCOL: u64 = 1;

/// Runner errors.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunnerError {
    /// The environment was created without model metadata.
    #[error(
        "the environment `{name}` has no model metadata (import, model class, prediction function)"
    )]
    #[diagnostic(help("re-create it with `scivision env create {name}`; models need `extra.scivision` in their recipe"))]
    NoModel {
        /// The env.
        name: String,
    },
    /// The runner is missing from the env.
    #[error("`scivision-runner` is not installed in {}", prefix.display())]
    #[diagnostic(help("re-create the environment with `scivision env create` (it adds the runner), with a channel that has scivision-runner"))]
    NoRunner {
        /// The prefix.
        prefix: PathBuf,
    },
    /// The runner could not be started or talked to.
    #[error("runner of {name}: {step}")]
    #[diagnostic(help("run `scivision serve {name}` by hand to see its output"))]
    Io {
        /// The env.
        name: String,
        /// The step that failed.
        step: String,
        /// The pipe's or the process's error, when there is one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The runner in the environment speaks another frame format.
    #[error(
        "the runner in {name}'s environment speaks protocol {theirs}, this scivision {PROTOCOL}"
    )]
    #[diagnostic(help("re-create the environment (`scivision env create {name}`) to get the runner that goes with this scivision"))]
    Protocol {
        /// The env.
        name: String,
        /// The runner's version.
        theirs: u64,
    },
    /// The model failed to load or to predict.
    #[error("{name}: {kind} during {phase}: {message}\n\nmodel traceback:\n{traceback}")]
    #[diagnostic(help("{hint}"))]
    Model {
        /// The env.
        name: String,
        /// `load` or `predict`.
        phase: String,
        /// Exception type.
        kind: String,
        /// Exception message.
        message: String,
        /// The model's traceback.
        traceback: String,
        /// What to do.
        hint: String,
    },
}

/// The model.yml fields, as stored in an environment's `scivision.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModelEntry {
    /// Module to import.
    pub import: String,
    /// Class in it.
    pub model: String,
    /// Method to call.
    pub call: String,
    /// Keyword the input is passed as.
    pub arg: String,
}

impl ModelEntry {
    /// From an `about.json` `extra.scivision` section (import, model, prediction_fn.call/args.X).
    pub fn from_about(section: &serde_json::Value) -> Option<Self> {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        let pf = section.get("prediction_fn");
        Some(Self {
            import: text(section.get("import")?)?,
            model: text(section.get("model")?)?,
            call: pf
                .and_then(|p| p.get("call"))
                .and_then(text)
                .unwrap_or_else(|| "predict".into()),
            // model.yml names the input argument by the `X` key; its value is a label.
            arg: "X".into(),
        })
    }
}

/// The command line of the runner for `model` (`entry` in `prefix`), with the weight caches
/// and offline switches upstream's libraries read, started in the model's work folder (where
/// code that keeps its weights beside itself finds them).
pub fn command(
    prefix: &Path,
    model: &str,
    entry: &ModelEntry,
    home: &Path,
    offline: bool,
    activation: HashMap<String, String>,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(prefix.join("bin/python"));
    cmd.args([
        "-m",
        "scivision_runner",
        "--import",
        &entry.import,
        "--model",
        &entry.model,
        "--call",
        &entry.call,
        "--arg",
        &entry.arg,
    ]);
    // The user's own Python settings must not leak into the model's interpreter.
    for var in ["PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"] {
        cmd.env_remove(var);
    }
    cmd.envs(activation).env("PYTHONNOUSERSITE", "1");
    let weights = crate::weights::Weights::new(home);
    cmd.envs(weights.cache_env());
    let work = weights.work_dir(model);
    // Best effort: a folder that cannot be made leaves the runner where it was started.
    if fs_err::create_dir_all(&work).is_ok() {
        cmd.current_dir(work);
    }
    if offline {
        for var in [
            "HF_HUB_OFFLINE",
            "TRANSFORMERS_OFFLINE",
            "HF_DATASETS_OFFLINE",
            "SCIVISION_OFFLINE",
        ] {
            cmd.env(var, "1");
        }
    }
    cmd
}

/// Checks a runner's ready frame for the protocol version this scivision speaks (a load error
/// frame passes: it is reported as such).
pub fn check_protocol(name: &str, ready: &serde_json::Value) -> Result<(), Box<RunnerError>> {
    if ready.get("ready").and_then(serde_json::Value::as_bool) != Some(true) {
        return Ok(());
    }
    let theirs = ready
        .get("protocol")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if theirs == PROTOCOL {
        Ok(())
    } else {
        Err(Box::new(RunnerError::Protocol {
            name: name.to_string(),
            theirs,
        }))
    }
}

/// One frame: its JSON header and payload.
#[derive(Debug)]
pub struct Frame {
    /// The header.
    pub header: serde_json::Value,
    /// Array bytes.
    pub payload: Vec<u8>,
}

/// Writes a frame.
pub fn write_frame(
    w: &mut impl Write,
    header: &serde_json::Value,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut header = header.clone();
    if let Some(map) = header.as_object_mut() {
        map.insert("nbytes".into(), payload.len().into());
    }
    let bytes = serde_json::to_vec(&header)?;
    let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&bytes)?;
    w.write_all(payload)?;
    w.flush()
}

/// Reads a frame (`UnexpectedEof` when the runner went away).
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Frame> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > 16 * 1024 * 1024 {
        return Err(std::io::Error::other(format!("header of {len} bytes")));
    }
    let mut header = vec![0u8; len];
    r.read_exact(&mut header)?;
    let header: serde_json::Value = serde_json::from_slice(&header)?;
    let n = header
        .get("nbytes")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    // Grown as the bytes arrive: a header that claims more than the runner sends costs no
    // allocation of that size.
    let mut payload = Vec::new();
    r.take(n).read_to_end(&mut payload)?;
    if payload.len() as u64 != n {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "the frame promised {n} bytes and ended after {}",
                payload.len()
            ),
        ));
    }
    Ok(Frame { header, payload })
}

/// The bytes of a `.npy` file (format 1.0) holding an array item of a frame.
pub fn npy(item: &serde_json::Value, payload: &[u8]) -> Option<Vec<u8>> {
    let dtype = item.get("dtype")?.as_str()?;
    let shape: Vec<u64> = item
        .get("shape")?
        .as_array()?
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    let offset = usize::try_from(item.get("offset")?.as_u64()?).ok()?;
    let n = usize::try_from(item.get("nbytes")?.as_u64()?).ok()?;
    let data = payload.get(offset..offset.checked_add(n)?)?;
    let shape_text = match shape.as_slice() {
        [one] => format!("({one},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&u16::try_from(header.len()).ok()?.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &serde_json::json!({"op": "predict"}), b"abcd").unwrap();
        let frame = read_frame(&mut buf.as_slice()).unwrap();
        assert_eq!(frame.header["op"], "predict");
        assert_eq!(frame.header["nbytes"], 4);
        assert_eq!(frame.payload, b"abcd");
        let mut cut = &buf[..buf.len() - 1];
        assert_eq!(
            read_frame(&mut cut).unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn npy_header_is_aligned() {
        let item = serde_json::json!({"dtype": "<f8", "shape": [2, 3], "offset": 0, "nbytes": 48});
        let bytes = npy(&item, &[0u8; 48]).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(bytes.len(), 10 + header_len + 48);
        assert!(String::from_utf8_lossy(&bytes[10..10 + header_len]).contains("'shape': (2, 3)"));
        assert!(npy(
            &serde_json::json!({"dtype": "<f8", "shape": [1], "offset": 40, "nbytes": 16}),
            &[0u8; 48]
        )
        .is_none());
    }

    #[test]
    fn model_entry_from_about() {
        let about = serde_json::json!({"import": "m", "model": "C", "prediction_fn": {"call": "run", "args": {"X": "image"}}});
        let e = ModelEntry::from_about(&about).unwrap();
        assert_eq!(
            (e.import.as_str(), e.model.as_str(), e.call.as_str()),
            ("m", "C", "run")
        );
        assert!(ModelEntry::from_about(&serde_json::json!({"import": "m"})).is_none());
    }

    /// The golden frames in `tests/data/runner/`, which the Python side's tests read and write
    /// too: a request `protocol.py` wrote, and a reply this side writes.
    fn golden(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/runner")
                .join(name),
        )
        .unwrap()
    }

    fn golden_reply() -> (serde_json::Value, Vec<u8>) {
        let values: Vec<u8> = [0.5f64, 1.5, 2.5, 3.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let header = serde_json::json!({"ok": true, "outputs": [{"kind": "array", "dtype": "<f8", "shape": [2, 2], "offset": 0, "nbytes": 32}], "seconds": 0.25});
        (header, values)
    }

    #[test]
    fn golden_frames_read_and_write_alike_on_both_sides() {
        let frame = read_frame(&mut golden("python-request.frame").as_slice()).unwrap();
        assert_eq!(frame.header["op"], "predict");
        let item = &frame.header["inputs"][0];
        assert_eq!(item["dtype"], "<i4");
        assert_eq!(item["shape"], serde_json::json!([2, 3]));
        let ints: Vec<i32> = frame
            .payload
            .chunks(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(ints, [0, 1, 2, 3, 4, 5]);
        assert!(npy(item, &frame.payload).is_some());
        let (header, payload) = golden_reply();
        let mut written = Vec::new();
        write_frame(&mut written, &header, &payload).unwrap();
        assert_eq!(written, golden("rust-reply.frame"));
    }

    #[test]
    fn a_runner_of_another_protocol_is_refused_and_a_load_error_passes() {
        let ready = |p: Option<u64>| {
            let mut h = serde_json::json!({"ok": true, "ready": true});
            if let Some(p) = p {
                h["protocol"] = p.into();
            }
            h
        };
        assert!(check_protocol("m", &ready(Some(PROTOCOL))).is_ok());
        let old = check_protocol("m", &ready(None)).unwrap_err();
        assert!(old.to_string().contains("protocol 0"), "{old}");
        assert!(check_protocol("m", &ready(Some(PROTOCOL + 1))).is_err());
        assert!(check_protocol("m", &serde_json::json!({"ok": false, "error": {}})).is_ok());
    }

    #[test]
    fn a_frame_claiming_more_than_it_sends_is_an_error_not_an_allocation() {
        let header = br#"{"nbytes": 1152921504606846976}"#;
        let mut bytes = (header.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(b"only this");
        let err = read_frame(&mut bytes.as_slice()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    }
}
