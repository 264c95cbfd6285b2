"""Questions asked of the host's records: stored filters, segments, success criteria."""
