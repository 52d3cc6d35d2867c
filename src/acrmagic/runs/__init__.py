"""Run records (`model`), the store that keeps them (`store`) and the recorder that writes a run as it goes
(`recorder`). The package itself imports nothing: `import acrmagic` loads it, and each user imports the module it
needs."""
