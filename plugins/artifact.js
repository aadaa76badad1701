'use strict';
/**
 * mediahook's packaging steps around serverless-python-requirements (list this plugin before it).
 *
 * 1. Finds the Lambda runtime's own interpreter (python3.12 for `runtime: python3.12`) and hands it to
 *    serverless-python-requirements as `pythonBin`, so the dependencies are installed by it.
 * 2. Once the requirements are in the zip, runs scripts/build_artifact.py with that interpreter: bytecode
 *    for every module (unchecked-hash), only what runs, sorted entries and fixed timestamps.
 *
 * Where it looks, first hit wins: $RUNTIME_PYTHON; `pythonX.Y` on PATH; pyenv's versions
 * ($PYENV_ROOT or ~/.pyenv); /usr/local/bin and /usr/bin. Each candidate is run and must report X.Y.
 * If none does, packaging stops with an error that says what to install: never a zip without bytecode.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function reportsVersion(candidate, version) {
  const code = 'import sys; print("%d.%d" % sys.version_info[:2]); print(sys.executable)';
  const probe = spawnSync(candidate, ['-c', code], { encoding: 'utf8' });
  if (probe.status !== 0 || !probe.stdout) return null;
  const [found, executable] = probe.stdout.trim().split('\n');
  return found === version ? executable : null;
}

function pyenvCandidates(version) {
  const root = process.env.PYENV_ROOT || path.join(os.homedir(), '.pyenv');
  const versions = path.join(root, 'versions');
  if (!fs.existsSync(versions)) return [];
  const release = new RegExp(`^${version.replace('.', '\\.')}\\.(\\d+)$`); // 3.12.1, not 3.12-dev
  const micro = (name) => Number(release.exec(name)[1]);
  return fs
    .readdirSync(versions)
    .filter((name) => release.test(name))
    .sort((a, b) => micro(b) - micro(a)) // the newest patch release first
    .map((name) => path.join(versions, name, 'bin', `python${version}`));
}

function findRuntimePython(version, env = process.env) {
  const tried = [];
  const candidates = env.RUNTIME_PYTHON
    ? [env.RUNTIME_PYTHON] // an explicit choice is never second-guessed by a fallback
    : [`python${version}`, ...pyenvCandidates(version), `/usr/local/bin/python${version}`, `/usr/bin/python${version}`];
  for (const candidate of candidates) {
    tried.push(candidate);
    const executable = reportsVersion(candidate, version);
    if (executable) return { executable, tried };
  }
  return { executable: null, tried };
}

class MediahookArtifact {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.log = log || { notice: (m) => serverless.cli.log(m), info: () => {} };
    // Listed before serverless-python-requirements, so its `before` hooks run first; the zip is finished
    // after every plugin has added to it and before compileFunctions hashes it for the function version.
    this.hooks = {
      'before:package:createDeploymentArtifacts': () => this.useRuntimePython(),
      'before:deploy:function:packageFunction': () => this.useRuntimePython(),
      'before:package:compileFunctions': () => this.finish(),
      'before:deploy:function:deploy': () => this.finish(),
    };
  }

  runtimeVersion() {
    const runtime = this.serverless.service.provider.runtime || '';
    const match = /^python(\d)\.(\d+)$/.exec(runtime);
    if (!match) {
      throw new this.serverless.classes.Error(`mediahook packages Python runtimes only, not "${runtime}"`);
    }
    return `${match[1]}.${match[2]}`;
  }

  python() {
    if (this.executable) return this.executable;
    const version = this.runtimeVersion();
    const { executable, tried } = findRuntimePython(version);
    if (!executable) {
      throw new this.serverless.classes.Error(
        `The Lambda runtime is python${version}, and the artifact must be built by that interpreter ` +
          `(its bytecode and wheels are for it), but none answered as Python ${version} ` +
          `(tried: ${tried.join(', ')}). Install CPython ${version} (apt install python${version}, ` +
          `pyenv install ${version}, or uv python install ${version}), or point RUNTIME_PYTHON at one.`,
        'MEDIAHOOK_RUNTIME_PYTHON_NOT_FOUND'
      );
    }
    this.executable = executable;
    return executable;
  }

  /**
   * MEDIAHOOK_TEMPLATE_ONLY=1: the tests that read only the CloudFormation template (one package per set of
   * stage parameters) skip what makes the zip worth deploying: the dependencies are not installed (the
   * requirements file is pointed at one that does not exist, which serverless-python-requirements skips) and
   * the bytecode is not compiled. The template is compiled as always; only the code hashes in it differ.
   */
  templateOnly() {
    return process.env.MEDIAHOOK_TEMPLATE_ONLY === '1';
  }

  useRuntimePython() {
    const custom = (this.serverless.service.custom = this.serverless.service.custom || {});
    if (this.templateOnly()) {
      custom.pythonRequirements = { ...(custom.pythonRequirements || {}), fileName: 'template-only.no-requirements' };
      this.log.notice('MEDIAHOOK_TEMPLATE_ONLY=1: the template only; the zip has no dependencies (not deployable)');
      return;
    }
    custom.pythonRequirements = { ...(custom.pythonRequirements || {}), pythonBin: this.python() };
    this.log.info(`Building with ${this.executable}`);
  }

  finish() {
    if (this.templateOnly()) return;
    const service = this.serverless.service;
    const artifacts = new Set();
    if (service.package && service.package.artifact) artifacts.add(service.package.artifact);
    for (const name of service.getAllFunctions()) {
      const fn = service.getFunction(name);
      if (fn.package && fn.package.artifact) artifacts.add(fn.package.artifact);
    }
    const script = path.join(__dirname, '..', 'scripts', 'build_artifact.py');
    for (const artifact of artifacts) {
      const zip = path.resolve(this.serverless.serviceDir, artifact);
      const result = spawnSync(this.python(), [script, zip, '--runtime', this.runtimeVersion()], {
        encoding: 'utf8',
        env: { ...process.env, PYTHONHASHSEED: '0' },
      });
      if (result.status !== 0) {
        throw new this.serverless.classes.Error(
          `Finishing the artifact failed: ${(result.stderr || result.stdout || String(result.error)).trim()}`,
          'MEDIAHOOK_ARTIFACT_FAILED'
        );
      }
      this.log.notice(result.stdout.trim());
    }
  }
}

module.exports = MediahookArtifact;
module.exports.findRuntimePython = findRuntimePython;
