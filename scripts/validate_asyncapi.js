'use strict';
/**
 * Validate an AsyncAPI document with the AsyncAPI project's own parser (@asyncapi/parser, pinned in
 * package.json): `node scripts/validate_asyncapi.js asyncapi.json`. Prints the parsed channels, messages and
 * every diagnostic as JSON; exits 1 if the document does not parse or has an error-level diagnostic.
 */
const fs = require('fs');
const { Parser, DiagnosticSeverity } = require('@asyncapi/parser');

(async () => {
  const { document, diagnostics } = await new Parser().parse(fs.readFileSync(process.argv[2], 'utf8'));
  const report = {
    parsed: Boolean(document),
    errors: diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`),
    warnings: diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`),
    channels: document ? document.channels().all().map((c) => c.id()) : [],
    operations: document ? document.operations().all().map((o) => `${o.action()} ${o.id()}`) : [],
    messages: document ? document.messages().all().map((m) => m.id()) : [],
  };
  console.log(JSON.stringify(report, null, 1));
  process.exit(report.parsed && report.errors.length === 0 ? 0 : 1);
})();
