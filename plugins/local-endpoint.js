'use strict';
/**
 * Deploy onto a local AWS stand-in (moto server) instead of AWS: `make deploy-local` uses it.
 *
 * Inert unless MEDIAHOOK_LOCAL_AWS_ENDPOINT is set (e.g. http://127.0.0.1:5000): without it this plugin
 * registers no hook and changes nothing, so a real `osls deploy` is exactly what it would be without it.
 * With it, and only for that run:
 *
 * - every AWS call osls makes goes to that endpoint (osls uses the AWS SDK for JavaScript v2, which
 *   ignores AWS_ENDPOINT_URL; its global config is set here, with path-style S3 addressing);
 * - CloudFormation's ValidateTemplate is skipped: moto's runs cfn-lint and refuses the HTTP API routes
 *   the framework generates (W3005); the suite lints the packaged template with cfn-lint itself;
 * - the stack is updated directly, not through change sets (moto's change-set stacks have no Outputs).
 *
 * It refuses any endpoint that is not on this machine: it is for local stand-ins only.
 */
const path = require('path');

const VARIABLE = 'MEDIAHOOK_LOCAL_AWS_ENDPOINT';
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function localEndpoint(env = process.env) {
  const value = env[VARIABLE];
  if (!value) return null;
  let url;
  try {
    url = new URL(value);
  } catch (error) {
    throw new Error(`${VARIABLE}=${value} is not a URL`);
  }
  if (!LOCAL_HOSTS.has(url.hostname) && !url.hostname.startsWith('127.')) {
    throw new Error(`${VARIABLE} must point at this machine (127.0.0.1, localhost), not ${url.hostname}`);
  }
  return url.origin;
}

/** The aws-sdk module instance osls itself loads (osls/lib/aws/sdk-v2.js), so its global config applies. */
function oslsAwsSdk() {
  const osls = path.dirname(require.resolve('osls/package.json', { paths: [process.cwd(), __dirname] }));
  return require(path.join(osls, 'lib', 'aws', 'sdk-v2.js'));
}

class LocalEndpoint {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.endpoint = localEndpoint();
    this.hooks = {};
    if (!this.endpoint) return; // inert: a real deployment is untouched
    this.log = log || { notice: (m) => serverless.cli.log(m) };
    // At construction, before osls creates (and caches) any AWS service client.
    this.redirect();
    this.hooks = { initialize: () => this.log.notice(`AWS calls go to ${this.endpoint} (${VARIABLE}); template validation skipped`) };
  }

  redirect() {
    const AWS = oslsAwsSdk();
    AWS.config.update({ endpoint: this.endpoint, s3ForcePathStyle: true });
    const provider = this.serverless.getProvider('aws');
    const request = provider.request.bind(provider);
    provider.request = (service, method, ...rest) => {
      if (service === 'CloudFormation' && method === 'validateTemplate') return Promise.resolve({});
      return request(service, method, ...rest);
    };
    this.serverless.service.provider.deploymentMethod = 'direct';
  }
}

module.exports = LocalEndpoint;
module.exports.localEndpoint = localEndpoint;
