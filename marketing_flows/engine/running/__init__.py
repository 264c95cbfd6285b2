"""Moving people through a flow: the runner and its batches, participant state, job slots,
the flow's life (run / pause / stop), its graph and its validation."""
