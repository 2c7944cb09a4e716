"""The field's reference pipeline (SENSORIUM 2022 starter kit on neuralpredictors 0.3.0), for benchmarks only."""
