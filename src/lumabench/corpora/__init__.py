"""Stage 1: the corpora (embedded `mini` builder and `full` downloads)."""
