"""The operator's console (``mediahook console``): a small web application on 127.0.0.1 that shows the stack
with the operator's own AWS credentials (the archive, the ledger, the query engine's ``events`` table, the
alarms) and replays events through the CLI's replay path.

It holds no data of its own. It is an operator tool: neither this package nor its web framework, templates and
static files are in the Lambda artifact (serverless.yml's package patterns leave ``lib/console/`` out).

``security`` (the one-time token, the session cookie, the Host and cross-site checks), ``queries`` (the
events table, read through ``lib.query``), ``reads`` (the archive, the ledger, dead letters, alarms, the last
reconcile run), ``charts`` (inline SVG), ``replaying`` (dry run and replay), ``app`` (the pages).
"""
