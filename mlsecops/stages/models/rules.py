"""The models stage's rules (MLS1xx): what each finding means and what to do about it.

Findings are made from these values (`state.observe(rules.ZIP_CRC_MISMATCH, ...)`), never
from id strings; `RULES` (by id) feeds the SARIF rule list and docs/rules.md."""

from __future__ import annotations

from mlsecops.findings import Severity
from mlsecops.rules import Rule

_SAFE_FORMATS = "Prefer formats that cannot carry code: safetensors, ONNX, GGUF, or numpy without object arrays."


def _rule(id: str, name: str, short: str, full: str, help: str, severity: Severity) -> Rule:
    return Rule(id=id, name=name, short=short, full=full, help=help, severity=severity)


DANGEROUS_PICKLE_IMPORT = _rule(
    "MLS101", "dangerous-pickle-import", "A pickle imports a known-dangerous callable",
    "Loading this file with pickle, torch.load(weights_only=False), joblib or numpy(allow_pickle=True) "
    "imports a callable known to run commands, code, or touch files and the network: on the denylist, "
    "a re-export of a denylisted object under an ML library's name, a third-party callable the generated "
    "denylist shows reaching such a sink (psutil.Popen, urllib3.request, zstandard.open...), or an "
    "allowlisted class whose state fails its check (a scipy distribution's template that is not scipy's, "
    "a legacy joblib array file outside the model's folder).",
    "Do not load this file. Re-create the model from trusted code and save it as safetensors. " + _SAFE_FORMATS,
    Severity.critical,
)

RISKY_PICKLE_IMPORT = _rule(
    "MLS102", "risky-pickle-import", "A pickle imports something legitimate models do not need",
    "The import comes from the standard library or an ML library but is not on the allowlist of what "
    "model files use. The message says why: not listed; a re-export of another library's object under "
    "the ML library's name (never allowed); or unsafe state: a class whose reconstruction runs code "
    "taken from the pickle (or whose state check was not verified). Such modules hide many published "
    "gadgets (idlelib, cProfile, torch.utils.bottleneck...).",
    "If the import is legitimate, paste the finding's fix (allow_globals: [\"module:name\"]) into the "
    "policy's models section after review. " + _SAFE_FORMATS,
    Severity.high,
)

UNKNOWN_PICKLE_IMPORT = _rule(
    "MLS103", "unknown-pickle-import", "A pickle imports code mlsecops does not know",
    "The import is neither allowlisted nor known to be dangerous: usually the project's own classes "
    "(torch.save of a whole model) or a third-party library. Loading the file imports and runs that code. "
    "Its severity is the policy's `unknown_globals` (default medium), or `unknown_calls` (default high) "
    "when the pickle calls it with arguments (directly, or by handing it to code that calls it) and "
    "nothing in the pickle shows it is a class: a function, or a capitalised name never instantiated "
    "with NEWOBJ, never given a BUILD state, and called with more than one constant.",
    "Save only state (model.state_dict(), safetensors) instead of pickled objects, or paste the "
    "finding's fix (allow_globals: [\"module:name\"]) into the policy's models section.", Severity.medium,
)

DYNAMIC_PICKLE_IMPORT = _rule(
    "MLS104", "dynamic-pickle-import", "A pickle computes what it imports",
    "STACK_GLOBAL operands that are not constant strings, or EXT opcodes that import through the "
    "extension registry: a technique to hide the real import from scanners.",
    "Treat the file as malicious.", Severity.critical,
)

MALFORMED_PICKLE = _rule(
    "MLS105", "malformed-pickle", "The pickle stream is broken",
    "Every unpickler fails at this point of the stream (mlsecops follows them all: the C and the "
    "pure-Python unpickler, with each encoding, and joblib's reader), so nothing after it runs. What ran "
    "before is judged on its own: a break after a known-dangerous import or a call to code that is not "
    "allowlisted is the nullifAI technique (scanners that stop at the error miss the call) and is high; "
    "a break before anything dangerous ran is a corrupt file, low.",
    "If it imports or calls code that is not allowlisted before the break, treat it as malicious; "
    "otherwise re-export the model.",
    Severity.medium,
)

NESTED_PICKLE = _rule(
    "MLS106", "nested-pickle", "A pickle carries another pickle inside a byte string",
    "A byte string (raw, base64 or hex) is itself a pickle; code that later unpickles it runs its imports.",
    "Treat nested pickles that import anything not allowlisted as malicious.", Severity.high,
)

PICKLE_OBJECT_MUTATION = _rule(
    "MLS107", "pickle-object-mutation", "A pickle rewrites an imported module or class",
    "BUILD applied directly to an imported global sets attributes on a module or class: used to "
    "redirect later imports (e.g. torch._utils functions replaced by eval).",
    "Treat the file as malicious.", Severity.critical,
)

KERAS_LAMBDA_LAYER = _rule(
    "MLS108", "keras-lambda-layer", "A Keras model contains a Lambda layer",
    "Lambda layers carry Python code (marshalled bytecode or a function reference) that runs when the "
    "model is loaded or called.",
    "Replace the Lambda layer with a registered custom layer, or load with safe_mode=True.", Severity.high,
)

TORCHSCRIPT_CODE = _rule(
    "MLS109", "torchscript-code", "A model archive contains TorchScript code",
    "TorchScript code in the archive is compiled and run by torch.jit.load; a torch.save checkpoint "
    "should not contain code at all.",
    "Load TorchScript only from trusted sources; for weights use safetensors.", Severity.high,
)

DISGUISED_PICKLE = _rule(
    "MLS110", "disguised-pickle", "A pickle hides under a name that is not a pickle's",
    "The content is a pickle but the file name suggests a harmless format, so tools that choose "
    "scanners by extension skip it.",
    "Rename it to what it is, or better, convert it to a safe format. " + _SAFE_FORMATS, Severity.medium,
)

ZIP_STRUCTURE_TAMPERING = _rule(
    "MLS111", "zip-structure-tampering", "Zip headers disagree or carry flags loaders ignore",
    "The local and central directory headers name different files, a member name appears twice, a "
    "member has a local header but is missing from the central directory (stream readers load it), or "
    "flags are set that lenient loaders (PyTorch) ignore but scanners honour (CVE-2025-1944).",
    "Treat the archive as an evasion attempt; rebuild it with a standard zip writer.", Severity.high,
)

ZIP_FAKE_ENCRYPTION = _rule(
    "MLS112", "zip-fake-encryption", "A zip member is flagged encrypted but is not",
    "Scanners skip 'encrypted' members; PyTorch ignores the flag and loads the plain data (CVE-2025-1945).",
    "Treat the archive as an evasion attempt.", Severity.high,
)

ZIP_CRC_MISMATCH = _rule(
    "MLS113", "zip-crc-mismatch", "A zip member's CRC does not match its data",
    "Scanners built on zipfile raise on a bad CRC and skip the member; PyTorch ignores CRCs and loads it "
    "(CVE-2025-10156). mlsecops scanned the data anyway.",
    "Rebuild the archive; a CRC mismatch in a model file is a tampering signal.", Severity.medium,
)

ARCHIVE_PATH_TRAVERSAL = _rule(
    "MLS114", "archive-path-traversal", "An archive member or a model's data reference points outside its folder",
    "A member name is absolute or contains '..': extracting the archive writes files elsewhere (zip slip). "
    "Or an ONNX tensor's external-data location (in an initializer, a node attribute such as a Constant, "
    "a sparse tensor, a subgraph or a function) is absolute, contains '..' or goes through a symbolic link: "
    "loading the model reads a file outside its folder.",
    "Do not extract or load it; rebuild it with relative names inside the model's folder.", Severity.high,
)

SCAN_LIMIT_EXCEEDED = _rule(
    "MLS115", "scan-limit-exceeded", "A file could not be fully scanned within the limits",
    "Nesting depth, member count, expanded size or opcode count exceeded the policy's limits, a "
    "compressed stream expanded beyond any plausible ratio (a decompression bomb), part of the file "
    "could not be read at all (a codec or dtype the gate cannot decode: the message says which), or the "
    "pickle walker met a layout it does not follow where a loader reads on (unpicklers that disagree on a "
    "FRAME, a joblib array sized by something that is not a constant). The unchecked part may hold "
    "anything, and the loader may read it, so the file is blocked. At low severity: fickling or modelscan "
    "did not analyse a pickle mlsecops's own walk read in full.",
    "Raise models.limits in the policy if the file is legitimate, or remove it.", Severity.high,
)

ENGINE_FINDING = _rule(
    "MLS116", "engine-finding", "An engine (fickling or modelscan) reports a problem",
    "fickling or modelscan reported a problem that mlsecops's own analysis did not attribute to a "
    "specific import.",
    "Review the engine's message; treat overtly malicious verdicts as blocking.", Severity.medium,
)

TENSORFLOW_UNSAFE_OP = _rule(
    "MLS117", "tensorflow-unsafe-op", "A TensorFlow graph uses an operation that runs code or touches files",
    "PyFunc/EagerPyFunc run Python; ReadFile/WriteFile and similar touch the file system when the graph runs.",
    "Rebuild the graph without these operations.", Severity.high,
)

TEMPLATE_INJECTION = _rule(
    "MLS118", "template-injection", "A Jinja template reaches Python internals",
    "A chat or config template accesses private attributes (__class__, __globals__, __subclasses__...), "
    "builds attribute names dynamically, or calls functions that escape the sandbox: rendering it outside "
    "a sandboxed environment runs code (CVE-2024-34359).",
    "Remove the template; render templates only with jinja2.sandbox.ImmutableSandboxedEnvironment.",
    Severity.critical,
)

POLYGLOT_FILE = _rule(
    "MLS119", "polyglot-file", "The file is valid as two formats at once",
    "Different loaders see different content (e.g. a pickle that is also a zip), a known way to show a "
    "scanner the harmless view.",
    "Rebuild the file in one format.", Severity.medium,
)

CORRUPT_MODEL_FILE = _rule(
    "MLS120", "corrupt-model-file", "A model file is corrupt or truncated",
    "The file could not be parsed completely; loaders will likely fail on it. What could be read was scanned "
    "(a zip whose central directory is missing is read by its local headers, as stream readers do).",
    "Re-export the model.", Severity.medium,
)

ENCRYPTED_MEMBER = _rule(
    "MLS121", "encrypted-member", "An encrypted archive member could not be scanned",
    "The member is really encrypted, so its content was not checked; no loader can read it without the password.",
    "Ship models unencrypted, or waive the path if this is expected.", Severity.low,
)

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        DANGEROUS_PICKLE_IMPORT,
        RISKY_PICKLE_IMPORT,
        UNKNOWN_PICKLE_IMPORT,
        DYNAMIC_PICKLE_IMPORT,
        MALFORMED_PICKLE,
        NESTED_PICKLE,
        PICKLE_OBJECT_MUTATION,
        KERAS_LAMBDA_LAYER,
        TORCHSCRIPT_CODE,
        DISGUISED_PICKLE,
        ZIP_STRUCTURE_TAMPERING,
        ZIP_FAKE_ENCRYPTION,
        ZIP_CRC_MISMATCH,
        ARCHIVE_PATH_TRAVERSAL,
        SCAN_LIMIT_EXCEEDED,
        ENGINE_FINDING,
        TENSORFLOW_UNSAFE_OP,
        TEMPLATE_INJECTION,
        POLYGLOT_FILE,
        CORRUPT_MODEL_FILE,
        ENCRYPTED_MEMBER,
    )
}
