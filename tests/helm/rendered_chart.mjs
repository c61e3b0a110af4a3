// The chart helm/mei-cdn as `helm template` renders it, read into objects, and the built binaries
// the chart runs: what the tests in this folder look at. The helm binary comes from $MEI_HELM or
// the PATH (scripts/setup --test installs it); without one every test fails, none is skipped.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through ctest`);
  return value;
}

export const sourceDir = requireEnv('MEI_SOURCE_DIR');
export const binaryDir = requireEnv('MEI_BINARY_DIR');
export const chartDir = path.join(sourceDir, 'helm', 'mei-cdn');
export const customValues = path.join(sourceDir, 'tests', 'helm', 'custom-values.yaml');

// The binaries the image holds, by the name the chart's commands use.
export const binaries = {
  'mei-origin': path.join(binaryDir, 'origin', 'mei-origin'),
  'mei-cache-node': path.join(binaryDir, 'cache-node', 'mei-cache-node'),
  'mei-placement': path.join(binaryDir, 'placement', 'mei-placement'),
  meictl: path.join(binaryDir, 'tools', 'ctl', 'meictl'),
  'mei-get': path.join(binaryDir, 'tools', 'get', 'mei-get'),
};

// A PATH on which the chart's commands find the built binaries first, then the system's tools.
export function binaryPath() {
  const dirs = [...new Set(Object.values(binaries).map((b) => path.dirname(b)))];
  return [...dirs, process.env.PATH ?? '/usr/bin:/bin'].join(':');
}

export function findHelm() {
  if (process.env.MEI_HELM) return process.env.MEI_HELM;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(dir || '.', 'helm');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error('no helm on the PATH (nor MEI_HELM): scripts/setup --test installs it');
}

// Runs helm with `args`; returns {status, stdout, stderr}. Never throws for a non-zero exit.
export function helm(args) {
  const result = spawnSync(findHelm(), args, { encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

// Renders the chart: {release, namespace, valuesFiles, set} -> Rendered. Throws with helm's
// message when rendering fails.
export function render({
  release = 'mei',
  namespace = 'mei-test',
  valuesFiles = [],
  set = [],
} = {}) {
  const args = ['template', release, chartDir, '--namespace', namespace];
  for (const file of valuesFiles) args.push('--values', file);
  for (const s of set) args.push('--set', s);
  const result = helm(args);
  if (result.status !== 0) {
    throw new Error(`helm ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  }
  const objects = yaml.loadAll(result.stdout).filter((o) => o !== null && o !== undefined);
  return new Rendered(objects, namespace, result.stdout);
}

export class Rendered {
  constructor(objects, namespace, text) {
    this.objects = objects;
    this.namespace = namespace;
    this.text = text;
  }

  all(kind) {
    return this.objects.filter((o) => o.kind === kind);
  }

  // The one object of `kind` named `name`, or undefined.
  find(kind, name) {
    return this.objects.find((o) => o.kind === kind && o.metadata?.name === name);
  }

  // The one object of `kind` (and `name` when given); throws when there is none or several.
  one(kind, name) {
    const found = this.all(kind).filter((o) => name === undefined || o.metadata.name === name);
    if (found.length !== 1) {
      throw new Error(`expected one ${kind}${name ? ' ' + name : ''}, rendered ${found.length}`);
    }
    return found[0];
  }

  // The pod spec of a Deployment, StatefulSet or CronJob.
  static podSpec(workload) {
    if (workload.kind === 'CronJob') return workload.spec.jobTemplate.spec.template.spec;
    return workload.spec.template.spec;
  }

  static container(workload, name) {
    const containers = Rendered.podSpec(workload).containers;
    const found = containers.find((c) => c.name === name);
    if (!found)
      throw new Error(`${workload.kind} ${workload.metadata.name} has no container ${name}`);
    return found;
  }

  // The decoded data of a rendered Secret, or of `given` ({name: {key: value}}) when the chart
  // was told to use an existing one.
  secretData(name, given = {}) {
    const secret = this.find('Secret', name);
    if (!secret) return given[name];
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
    );
  }
}

// Every "--flag" a binary's help (for a subcommand path) lists: `${binary} ${...path} --help`.
// Also returns the subcommand names the help lists.
export function helpOf(binary, subcommands = []) {
  const result = spawnSync(binaries[binary], [...subcommands, '--help'], { encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(
      `${binary} ${subcommands.join(' ')} --help exited ${result.status}: ${result.stderr}`,
    );
  }
  const text = result.stdout;
  const flags = new Set(text.match(/--[a-z0-9][a-z0-9-]*/g) ?? []);
  const names = new Set();
  const section = text.split(/^(?:SUBCOMMANDS|Subcommands):\s*$/m)[1];
  if (section !== undefined) {
    for (const line of section.split('\n')) {
      const m = line.match(/^ {2}([a-z][a-z0-9-]*)\s/);
      if (m) names.add(m[1]);
      else if (line.trim() !== '' && !line.startsWith(' ')) break;
    }
  }
  return { flags, subcommands: names, text };
}

// The option name of an argument "--flag=value" or "--flag", else undefined.
export function flagName(arg) {
  const m = /^(--[a-z0-9][a-z0-9-]*)(=|$)/.exec(arg);
  return m ? m[1] : undefined;
}
