"""Scripts that run inside an instance (launched by a spec's command), apart from the
host-side spec builders in ``vecbridge.backends``. They are run as plain scripts with the
standard library only, so that an instance does not pay for importing vecbridge."""
