"""Scale benchmarks that print JSON, and the synthetic data they use."""
