"""Blinded real-vs-generated reader studies: an offline page for readers (`make`) and their scoring (`score`)."""
