"""The HTTP edge and what follows it: receiving, queueing and handling deliveries."""
