// A rendered container, run on this machine as the kubelet would run it in its pod: its volumes
// become directories under a scratch root (Secrets and ConfigMaps as their files, everything else
// empty), its environment is resolved (values, $(VAR) references, the downward API's pod name and
// namespace, secretKeyRef), and its command line gets Kubernetes' $(VAR) substitution. Paths under
// a mount point move under the scratch root, and cluster URLs can be swapped for local ones, so the
// chart's real command lines, scripts and files drive the real binaries.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Rendered, binaries, binaryPath } from './rendered_chart.mjs';

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class LocalContainer {
  // rendered: Rendered; workload: its Deployment, StatefulSet or CronJob; containerName; podName;
  // root: an empty scratch directory; secrets: {name: {key: value}} for Secrets the chart did not
  // render; urls: Map of cluster URL -> local URL.
  constructor({
    rendered,
    workload,
    containerName,
    podName,
    root,
    secrets = {},
    urls = new Map(),
  }) {
    this.rendered = rendered;
    this.podSpec = Rendered.podSpec(workload);
    this.container = Rendered.container(workload, containerName);
    this.podName = podName;
    this.root = root;
    this.secrets = secrets;
    this.urls = urls;
    this.mounts = (this.container.volumeMounts ?? []).map((m) => m.mountPath);
    const alternatives = [...this.mounts].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.mountPattern = alternatives.length
      ? new RegExp(`(^|=)(${alternatives.join('|')})(?=/|$)`, 'g')
      : null;
    this.materializeVolumes();
    this.env = this.resolveEnv();
  }

  // `text` with mount paths (at its start or after "=") moved under the root and cluster URLs
  // replaced.
  localize(text) {
    let out = this.mountPattern
      ? text.replace(this.mountPattern, (_, lead, p) => lead + path.join(this.root, p))
      : text;
    for (const [cluster, local] of this.urls) out = out.split(cluster).join(local);
    return out;
  }

  hostPath(mountPath) {
    return path.join(this.root, mountPath);
  }

  volumeData(volume) {
    if (volume.secret) {
      const data = this.rendered.secretData(volume.secret.secretName, this.secrets);
      if (!data)
        throw new Error(`Secret ${volume.secret.secretName} is neither rendered nor given`);
      return { data, items: volume.secret.items };
    }
    if (volume.configMap) {
      const map = this.rendered.find('ConfigMap', volume.configMap.name);
      if (!map) throw new Error(`ConfigMap ${volume.configMap.name} is not rendered`);
      const data = Object.fromEntries(
        Object.entries(map.data ?? {}).map(([k, v]) => [k, this.localize(v)]),
      );
      return { data, items: volume.configMap.items };
    }
    return null; // emptyDir, a claim, or a volumeClaimTemplate: an empty directory
  }

  materializeVolumes() {
    for (const mount of this.container.volumeMounts ?? []) {
      const dir = this.hostPath(mount.mountPath);
      fs.mkdirSync(dir, { recursive: true });
      const volume = (this.podSpec.volumes ?? []).find((v) => v.name === mount.name);
      if (!volume) continue; // a StatefulSet's volumeClaimTemplate
      const content = this.volumeData(volume);
      if (!content) continue;
      const items = content.items ?? Object.keys(content.data).map((key) => ({ key, path: key }));
      for (const item of items) {
        if (!(item.key in content.data)) {
          throw new Error(`volume ${volume.name} has no key ${item.key}`);
        }
        fs.mkdirSync(path.dirname(path.join(dir, item.path)), { recursive: true });
        fs.writeFileSync(path.join(dir, item.path), content.data[item.key], { mode: 0o600 });
      }
    }
  }

  resolveEnv() {
    const env = {};
    for (const entry of this.container.env ?? []) {
      if ('value' in entry) {
        env[entry.name] = this.localize(this.substitute(String(entry.value), env));
      } else if (entry.valueFrom?.fieldRef) {
        const field = entry.valueFrom.fieldRef.fieldPath;
        if (field === 'metadata.name') env[entry.name] = this.podName;
        else if (field === 'metadata.namespace') env[entry.name] = this.rendered.namespace;
        else throw new Error(`env ${entry.name}: fieldRef ${field} is not simulated`);
      } else if (entry.valueFrom?.secretKeyRef) {
        const ref = entry.valueFrom.secretKeyRef;
        const data = this.rendered.secretData(ref.name, this.secrets);
        if (!data || !(ref.key in data))
          throw new Error(`env ${entry.name}: no Secret ${ref.name} key ${ref.key}`);
        env[entry.name] = data[ref.key];
      } else {
        throw new Error(`env ${entry.name} has a source this test does not simulate`);
      }
    }
    return env;
  }

  // Kubernetes' $(VAR) expansion in command and args: defined variables are replaced, $$ escapes.
  substitute(text, env = this.env) {
    return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name) => {
      if (whole === '$$') return '$';
      return name in env ? env[name] : whole;
    });
  }

  // The command line as the container would run it, localized: [program, ...args], with the
  // program resolved to a built binary when it is one of the chart's.
  commandLine() {
    const line = [...(this.container.command ?? []), ...(this.container.args ?? [])].map((a) =>
      this.localize(this.substitute(String(a))),
    );
    if (line.length === 0) throw new Error(`container ${this.container.name} has no command`);
    if (line[0] in binaries) line[0] = binaries[line[0]];
    return line;
  }

  // The process environment: only the container's variables, PATH with the built binaries first,
  // and HOME; nothing of the test's own environment (no MEI_* leaks in).
  processEnv() {
    return { PATH: binaryPath(), HOME: this.root, ...this.env };
  }
}

// A started process with its output collected line by line.
export class Process {
  constructor(command, args, env, name) {
    this.name = name;
    this.output = '';
    this.exited = null;
    this.child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.waiters = [];
    const take = (chunk) => {
      this.output += chunk.toString();
      this.notify();
    };
    this.child.stdout.on('data', take);
    this.child.stderr.on('data', take);
    this.child.on('error', (error) => {
      this.output += `\n${error.message}\n`;
      this.exited = { code: -1, signal: null };
      this.notify();
    });
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      this.notify();
    });
  }

  notify() {
    for (const waiter of [...this.waiters]) waiter();
  }

  // Resolves with the first match of `pattern` in the output; rejects when the process exits
  // first or after `timeoutMs`.
  waitFor(pattern, timeoutMs = 30000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(this.output);
        if (m) return finish(() => resolve(m));
        if (this.exited) {
          return finish(() =>
            reject(
              new Error(
                `${this.name} exited (${JSON.stringify(this.exited)}) before printing ${pattern}:\n${this.output}`,
              ),
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `${this.name} did not print ${pattern} in ${timeoutMs} ms:\n${this.output}`,
              ),
            ),
          ),
        timeoutMs,
      );
      const finish = (settle) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        settle();
      };
      this.waiters.push(check);
      check();
    });
  }

  // Resolves with {code, signal} when the process has exited.
  wait(timeoutMs = 120000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!this.exited) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(this.exited);
      };
      const timer = setTimeout(
        () => reject(new Error(`${this.name} still runs after ${timeoutMs} ms:\n${this.output}`)),
        timeoutMs,
      );
      this.waiters.push(check);
      check();
    });
  }

  async stop() {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    await this.wait(30000);
  }
}
