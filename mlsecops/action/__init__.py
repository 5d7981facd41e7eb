"""The GitHub Action adapter: the runner's environment in, a Context and the Action's outputs out.

`launch` is what the container runs (the Action with no arguments, the CLI with
some); `main` wires one Action step together from small modules: `inputs`
(INPUT_*), `runtime` (GITHUB_* variables and the event payload), `revisions`
(what to diff), `history` (deepening a shallow checkout) and `changed_files`
(the REST API's list when that fails), `gitenv` (safe.directory),
`privileges` (the container starts as root, the scan does not run as root),
`redact` (the token never leaves), `commands` (workflow commands on stdout),
`outputs` ($GITHUB_OUTPUT and the job summary), `api` and `comment` (the
sticky PR comment). Annotations are rendered by `reporters.github`.
"""
