"""One module per evidence format. Each defines an `Ingestor` subclass; the
registry (forensics.registry) finds them."""
