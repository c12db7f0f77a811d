"""What operators see: log set-up with masking (`logs`) and Prometheus metrics (`metrics`)."""
