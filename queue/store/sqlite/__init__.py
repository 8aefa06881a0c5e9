"""The SQLite backend of the store: every SQL statement of smsgw lives in this package (the
writer thread, the migrations, and one module per group of operations)."""
