"""DAM: digital asset management with metadata governance.

Layers (a module imports only from layers to its right; `|` siblings must not import each
other; `lint-imports` enforces it, the reasons are in docs/architecture.md):

    cli > app > web > api | worker > webhooks > views > workflow | campaigns | search > assets
        > context > auth | governance | storage | events > audit | media | jobs
        > models : config : errors : db : principal
"""
