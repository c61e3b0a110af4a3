// The chart's pods on one machine: the origin and every cache node start from their rendered
// command lines (listen addresses moved to 127.0.0.1 port 0, cluster URLs swapped for the local
// ones), answer their probes on /healthz and /readyz, serve a download, and then the placement
// CronJob's script, with its rendered topology and node list, pulls the trace, fits, solves and
// applies a plan that the nodes then hold. With the default and with the custom values. Run by
// ctest (HelmPlacementCycle).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { LocalContainer, Process } from './local_container.mjs';
import { Rendered, binaries, customValues, render } from './rendered_chart.mjs';

const namespace = 'mei-test';
const listening = /listening on http:\/\/(\S+)(?: admin http:\/\/(\S+))?/;

function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers }, (response) => {
      const chunks = [];
      response.on('data', (c) => chunks.push(c));
      response.on('end', () =>
        resolve({
          status: response.statusCode,
          headers: response.headers,
          body: Buffer.concat(chunks),
        }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.setTimeout(30000, () => request.destroy(new Error(`GET ${url} timed out`)));
  });
}

// /healthz answers at once; /readyz, as Kubernetes asks it, within a few probe periods (a cache
// node is ready once its first probe of the parent has come back).
async function assertProbes(base, what) {
  const health = await get(base + '/healthz');
  assert.equal(health.status, 200, `${what} answered /healthz with ${health.status}: ${health.body}`);
  const deadline = Date.now() + 15000;
  let ready = await get(base + '/readyz');
  while (ready.status !== 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    ready = await get(base + '/readyz');
  }
  assert.equal(ready.status, 200, `${what} answered /readyz with ${ready.status}: ${ready.body}`);
}

// The value of "--flag=value" in `args`, or undefined.
function argValue(args, flag) {
  const found = args.find((a) => a.startsWith(`${flag}=`));
  return found?.slice(flag.length + 1);
}

// Listen addresses of a command line moved to a free loopback port.
function onLoopback(line) {
  return line.map((a) => a.replace(/^(--(?:admin-)?listen=).*$/, '$1127.0.0.1:0'));
}

// A small model: a config and some incompressible weights, ingested into `store` as acme/tiny.
function ingestModel(root, store) {
  const dir = path.join(root, 'model');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({ model_type: 'tiny', hidden_size: 64 }),
  );
  const weights = crypto.randomBytes(3 << 20);
  fs.writeFileSync(path.join(dir, 'weights.bin'), weights);
  const run = spawnSync(
    binaries['mei-origin'],
    ['ingest', '--store', store, '--model', 'acme/tiny', '--revision', 'main', dir],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, `mei-origin ingest: ${run.stdout}${run.stderr}`);
  return weights;
}

// Runs the CronJob's container once, as a new Job would (a fresh scratch directory), and waits for
// it to succeed: {output, tokenFile}.
async function runPlacementJob(rendered, root, secrets, urls, processes) {
  const cron = rendered.one('CronJob');
  const job = new LocalContainer({
    rendered,
    workload: cron,
    containerName: 'placement',
    podName: `${cron.metadata.name}-1`,
    root,
    secrets,
    urls,
  });
  const line = job.commandLine();
  const run = new Process(line[0], line.slice(1), job.processEnv(), 'placement job');
  processes.push(run);
  const exit = await run.wait(300000);
  assert.deepEqual(exit, { code: 0, signal: null }, `the placement job failed:\n${run.output}`);
  return { output: run.output, tokenFile: job.env.TOKEN_FILE };
}

const configurations = [
  { name: 'default values', valuesFiles: [], secrets: {} },
  {
    name: 'custom values',
    valuesFiles: [customValues],
    secrets: { 'mei-admin': { bearer: 'test-token-0123456789abcdef' } },
  },
];

for (const c of configurations) {
  test(`${c.name}: the pods run from their rendered command lines and the placement job applies a plan`, async () => {
    const rendered = render({ namespace, valuesFiles: c.valuesFiles });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mei-helm-cycle-'));
    const processes = [];
    try {
      const urls = new Map(); // cluster URL -> local URL

      const deployment = rendered.one('Deployment');
      const origin = new LocalContainer({
        rendered,
        workload: deployment,
        containerName: 'origin',
        podName: `${deployment.metadata.name}-0`,
        root: path.join(root, 'origin'),
        secrets: c.secrets,
      });
      const originLine = onLoopback(origin.commandLine());
      const weights = ingestModel(root, argValue(originLine, '--store'));
      const originProcess = new Process(
        originLine[0],
        originLine.slice(1),
        origin.processEnv(),
        'mei-origin',
      );
      processes.push(originProcess);
      const originData = `http://${(await originProcess.waitFor(listening))[1]}`;
      await assertProbes(originData, 'the origin');

      const sts = rendered.one('StatefulSet');
      const cacheArgs = Rendered.container(sts, 'cache-node').args;
      const originUrl = argValue(cacheArgs, '--parent');
      assert.ok(
        originUrl.startsWith(
          `http://${rendered.one('Service', deployment.metadata.name).metadata.name}.`,
        ),
        `the nodes' parent ${originUrl} is not the origin Service`,
      );
      urls.set(originUrl, originData);

      const configMap = rendered.one('ConfigMap');
      const adminUrls = new Map(
        configMap.data['nodes.txt']
          .split('\n')
          .filter((l) => l.trim() && !l.trim().startsWith('#'))
          .map((l) => l.trim().split(/\s+/)),
      );
      const dataUrls = new Map(
        cacheArgs
          .filter((a) => a.startsWith('--peer='))
          .map((a) => a.slice('--peer='.length).split(/=(.*)/s).slice(0, 2)),
      );
      const nodes = [];
      for (let i = 0; i < sts.spec.replicas; ++i) {
        const podName = `${sts.metadata.name}-${i}`;
        const local = new LocalContainer({
          rendered,
          workload: sts,
          containerName: 'cache-node',
          podName,
          root: path.join(root, podName),
          secrets: c.secrets,
          urls,
        });
        // Static peers name nodes that have not started yet; the plan gives every node its peers'
        // URLs, which is what this test follows.
        const line = onLoopback(local.commandLine()).filter((a) => !a.startsWith('--peer='));
        assert.equal(argValue(line, '--parent'), originData);
        const node = new Process(line[0], line.slice(1), local.processEnv(), podName);
        processes.push(node);
        const m = await node.waitFor(listening);
        const entry = { id: podName, data: `http://${m[1]}`, admin: `http://${m[2]}` };
        await assertProbes(entry.data, podName);
        assert.ok(
          dataUrls.has(podName) && adminUrls.has(podName),
          `${podName} is not in the peers or nodes.txt`,
        );
        assert.equal(
          new URL(dataUrls.get(podName)).hostname,
          new URL(adminUrls.get(podName)).hostname,
        );
        urls.set(dataUrls.get(podName), entry.data);
        urls.set(adminUrls.get(podName), entry.admin);
        nodes.push(entry);
      }

      // Before any download the job leaves the nodes as they are: no demand, no new plan.
      const idle = await runPlacementJob(
        rendered,
        path.join(root, 'idle-job'),
        c.secrets,
        urls,
        processes,
      );
      assert.match(idle.output, /no downloads since \d+: the plan in force stays/);

      const download = await get(`${nodes[0].data}/acme/tiny/resolve/main/weights.bin`);
      assert.equal(download.status, 200);
      assert.ok(download.body.equals(weights), 'node 0 served other bytes');

      const job = await runPlacementJob(
        rendered,
        path.join(root, 'job'),
        c.secrets,
        urls,
        processes,
      );
      assert.match(job.output, /wrote \d+ lines to trace\.jsonl/);
      console.log(job.output);

      const token = fs.readFileSync(job.tokenFile, 'utf8').trim();
      for (const node of nodes) {
        const reply = await get(`${node.admin}/admin/v1/plan`, {
          Authorization: `Bearer ${token}`,
        });
        assert.equal(reply.status, 200, `${node.id}: GET /admin/v1/plan: ${reply.body}`);
        const plan = JSON.parse(reply.body);
        assert.deepEqual(
          Object.keys(plan.nodes).sort(),
          nodes.map((n) => n.id).sort(),
          `${node.id} holds a plan for other nodes`,
        );
        for (const n of nodes)
          assert.equal(plan.nodes[n.id].url, n.data, `the plan's URL of ${n.id}`);
        const models = plan.nodes[nodes[0].id].models.map((m) => `${m.model}@${m.revision}`);
        assert.deepEqual(
          models,
          ['acme/tiny@main'],
          'the node that served the download does not hold the model',
        );
      }
    } finally {
      for (const p of processes.reverse()) await p.stop().catch(() => {});
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}
