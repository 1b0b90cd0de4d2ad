# A package, so that its conftest is imported as e2e.conftest: as a plain "conftest" it
# would shadow tests/conftest.py for `from conftest import ...` in tests/test_migrations.py.
