"""What one rendering may produce and do: a task file must not be able to exhaust the kernel it runs in."""

OUTPUT_LIMIT = 8 * 2 ** 20  # characters
WORK_LIMIT = 2_000_000  # template nodes executed
