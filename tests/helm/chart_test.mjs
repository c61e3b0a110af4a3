// The Helm chart helm/mei-cdn without a cluster: `helm lint --strict` and `helm template` with the
// default values and with tests/helm/custom-values.yaml, the rendered objects (probes, volumes and
// claims, the admin token's Secret and who reads it, resources, the headless Service, the
// placement CronJob and its ConfigMap), and the containers' command lines run against the real
// binaries: mei-cache-node --check-config, and every flag given to mei-origin, meictl and
// mei-placement looked up in their --help. Run by ctest (HelmChart).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { LocalContainer } from './local_container.mjs';
import {
  Rendered,
  binaries,
  chartDir,
  customValues,
  flagName,
  helm,
  helpOf,
  render,
} from './rendered_chart.mjs';

const namespace = 'mei-test';
const defaults = yaml.load(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
const custom = yaml.load(fs.readFileSync(customValues, 'utf8'));

// The two configurations under test, each with what its objects must be called and hold.
const configurations = [
  {
    name: 'default values',
    valuesFiles: [],
    prefix: 'mei-mei-cdn',
    domain: 'cluster.local',
    replicas: defaults.cache.replicas,
    origin: {
      port: 8088,
      adminPort: 9088,
      resources: defaults.origin.resources,
      size: '100Gi',
      storageClass: undefined,
      extraArgs: [],
    },
    cache: {
      port: 8090,
      adminPort: 9090,
      capacity: '20GiB',
      policy: 'lru',
      resources: defaults.cache.resources,
      size: '25Gi',
      storageClass: undefined,
      extraArgs: [],
    },
    placement: {
      capacityBytes: Math.floor((20 * 2 ** 30 * 4) / 5),
      schedule: defaults.placement.schedule,
      resources: defaults.placement.resources,
    },
    secret: { name: 'mei-mei-cdn-admin-token', key: 'token', rendered: true },
    givenSecrets: {},
  },
  {
    name: 'custom values',
    valuesFiles: [customValues],
    prefix: 'edge',
    domain: 'cluster.example',
    replicas: 3,
    origin: {
      port: 8188,
      adminPort: 9188,
      resources: custom.origin.resources,
      size: '500Gi',
      storageClass: 'fast-ssd',
      extraArgs: custom.origin.extraArgs,
    },
    cache: {
      port: 8190,
      adminPort: 9190,
      capacity: '64GiB',
      policy: 'sharing',
      resources: custom.cache.resources,
      size: '80Gi',
      storageClass: 'local-nvme',
      extraArgs: custom.cache.extraArgs,
    },
    placement: {
      capacityBytes: 48 * 2 ** 30,
      schedule: '7 * * * *',
      resources: custom.placement.resources,
    },
    secret: { name: 'mei-admin', key: 'bearer', rendered: false },
    givenSecrets: { 'mei-admin': { bearer: 'test-token-0123456789abcdef' } },
  },
];

for (const c of configurations) {
  c.rendered = render({ namespace, valuesFiles: c.valuesFiles });
  c.originName = `${c.prefix}-origin`;
  c.cacheName = `${c.prefix}-cache`;
  c.peersName = `${c.prefix}-cache-peers`;
  c.originUrl = `http://${c.originName}.${namespace}.svc.${c.domain}:${c.origin.port}`;
  c.nodeIds = Array.from({ length: c.replicas }, (_, i) => `${c.cacheName}-${i}`);
  c.nodeHost = (i) => `${c.cacheName}-${i}.${c.peersName}.${namespace}.svc.${c.domain}`;
}

function scratchDir(label) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mei-helm-${label}-`));
}

// The port number a probe's or Service's named port means in `container`.
function portNumber(container, port) {
  if (typeof port === 'number') return port;
  const named = (container.ports ?? []).find((p) => p.name === port);
  assert.ok(named, `container ${container.name} has no port named ${port}`);
  return named.containerPort;
}

// The value of "--flag=value" in `args` (the last one), or undefined.
function argValue(args, flag) {
  const found = args.filter((a) => a.startsWith(`${flag}=`));
  return found.length ? found[found.length - 1].slice(flag.length + 1) : undefined;
}

// Checks that `container` reads the admin token from the expected Secret, as a file at
// `tokenFile`, through a read-only mount of a volume of that Secret.
function assertReadsToken(c, workload, container, tokenFile) {
  const podSpec = Rendered.podSpec(workload);
  const mount = (container.volumeMounts ?? []).find((m) => tokenFile.startsWith(m.mountPath + '/'));
  assert.ok(mount, `${container.name}: no mount holds ${tokenFile}`);
  assert.equal(mount.readOnly, true, `${container.name}: the token mount is not read-only`);
  const volume = podSpec.volumes.find((v) => v.name === mount.name);
  assert.ok(volume?.secret, `${container.name}: ${mount.mountPath} is not a Secret volume`);
  assert.equal(volume.secret.secretName, c.secret.name);
  const item = (volume.secret.items ?? []).find(
    (i) => path.join(mount.mountPath, i.path) === tokenFile,
  );
  assert.ok(item, `${container.name}: no item of the Secret volume is ${tokenFile}`);
  assert.equal(item.key, c.secret.key);
  for (const e of container.env ?? []) {
    assert.notEqual(
      e.name,
      'MEI_ADMIN_TOKEN',
      `${container.name}: the token must come from a file`,
    );
  }
  const token = c.rendered.secretData(c.secret.name, c.givenSecrets)[c.secret.key];
  for (const a of [...(container.command ?? []), ...(container.args ?? [])]) {
    assert.ok(!String(a).includes(token), `${container.name}: the token is on the command line`);
  }
}

function assertProbes(container, dataPort) {
  const expected = {
    startupProbe: '/healthz',
    livenessProbe: '/healthz',
    readinessProbe: '/readyz',
  };
  for (const [probe, probePath] of Object.entries(expected)) {
    const get = container[probe]?.httpGet;
    assert.ok(get, `${container.name}: no ${probe} over HTTP`);
    assert.equal(get.path, probePath, `${container.name}: ${probe} path`);
    assert.equal(portNumber(container, get.port), dataPort, `${container.name}: ${probe} port`);
  }
}

function assertResources(container, expected) {
  assert.deepEqual(container.resources, expected, `${container.name}: resources`);
  for (const kind of ['requests', 'limits']) {
    assert.ok(
      container.resources?.[kind]?.cpu && container.resources?.[kind]?.memory,
      `${container.name}: no ${kind} for cpu and memory`,
    );
  }
}

// Every key in values.yaml has a comment line right above it, except the fields of Kubernetes
// objects passed through as they are (resources, security contexts, probe timings).
test('every setting in values.yaml is documented by a comment above it', () => {
  const passThrough = new Set([
    'resources',
    'podSecurityContext',
    'containerSecurityContext',
    'startup',
    'liveness',
    'readiness',
  ]);
  const lines = fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8').split('\n');
  const stack = []; // [{indent, key}] of the enclosing keys
  const undocumented = [];
  lines.forEach((line, n) => {
    const m = /^( *)([A-Za-z][\w-]*):/.exec(line);
    if (!m) return;
    const indent = m[1].length;
    while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
    const inherited = stack.some((s) => passThrough.has(s.key));
    stack.push({ indent, key: m[2] });
    if (inherited) return;
    if (n === 0 || !/^\s*#/.test(lines[n - 1])) undocumented.push(`line ${n + 1}: ${m[2]}`);
  });
  assert.deepEqual(undocumented, [], 'settings without a comment above them');
});

for (const c of configurations) {
  const args = c.valuesFiles.flatMap((f) => ['--values', f]);

  test(`helm lint --strict passes with the ${c.name}`, () => {
    const result = helm(['lint', '--strict', chartDir, '--namespace', namespace, ...args]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.doesNotMatch(result.stdout, /\[(WARNING|ERROR)\]/, result.stdout);
  });

  test(`${c.name}: the objects the chart renders`, () => {
    const kinds = c.rendered.objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    const expected = [
      `ConfigMap/${c.prefix}-placement`,
      `CronJob/${c.prefix}-placement`,
      `Deployment/${c.originName}`,
      `PersistentVolumeClaim/${c.originName}`,
      `Service/${c.cacheName}`,
      `Service/${c.peersName}`,
      `Service/${c.originName}`,
      `StatefulSet/${c.cacheName}`,
    ];
    if (c.secret.rendered) expected.push(`Secret/${c.secret.name}`);
    assert.deepEqual(kinds, expected.sort());
    for (const o of c.rendered.objects) {
      assert.ok(o.metadata.name.length <= 63, `${o.kind}/${o.metadata.name} is too long a name`);
    }
  });

  test(`${c.name}: the admin token's Secret, generated only when none is named`, () => {
    if (c.secret.rendered) {
      const token = c.rendered.secretData(c.secret.name)[c.secret.key];
      assert.match(token, /^[!-~]{16,4096}$/, 'the generated token is not a valid admin token');
      const again = render({ namespace, valuesFiles: c.valuesFiles }).secretData(c.secret.name)[
        c.secret.key
      ];
      assert.notEqual(again, token, 'two installs got the same generated token');
    } else {
      assert.equal(
        c.rendered.all('Secret').length,
        0,
        'a Secret was rendered next to an existing one',
      );
    }
  });

  test(`${c.name}: the origin Deployment, its claim, Service, probes and resources`, () => {
    const deployment = c.rendered.one('Deployment', c.originName);
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(deployment.spec.strategy.type, 'Recreate', 'two origins would open one store');
    const container = Rendered.container(deployment, 'origin');
    const cmd = container.args;
    assert.deepEqual(container.command, ['mei-origin']);
    assert.equal(cmd[0], 'serve');
    assert.equal(argValue(cmd, '--listen'), `0.0.0.0:${c.origin.port}`);
    assert.equal(argValue(cmd, '--admin-listen'), `0.0.0.0:${c.origin.adminPort}`);
    assert.equal(portNumber(container, 'data'), c.origin.port);
    assert.equal(portNumber(container, 'admin'), c.origin.adminPort);
    for (const extra of c.origin.extraArgs) assert.ok(cmd.includes(extra), `origin lacks ${extra}`);
    assertProbes(container, c.origin.port);
    assertResources(container, c.origin.resources);
    assertReadsToken(c, deployment, container, argValue(cmd, '--admin-token-file'));

    const store = argValue(cmd, '--store');
    const mount = container.volumeMounts.find((m) => store.startsWith(m.mountPath + '/'));
    assert.ok(mount, 'the store is not on a volume');
    const volume = Rendered.podSpec(deployment).volumes.find((v) => v.name === mount.name);
    assert.equal(
      volume.persistentVolumeClaim?.claimName,
      c.originName,
      'the store is not on the claim',
    );
    const claim = c.rendered.one('PersistentVolumeClaim', c.originName);
    assert.equal(claim.spec.resources.requests.storage, c.origin.size);
    assert.equal(claim.spec.storageClassName, c.origin.storageClass);
    assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce']);

    const service = c.rendered.one('Service', c.originName);
    for (const [k, v] of Object.entries(service.spec.selector)) {
      assert.equal(
        deployment.spec.template.metadata.labels[k],
        v,
        `the origin Service selects ${k}=${v}`,
      );
    }
    const ports = Object.fromEntries(service.spec.ports.map((p) => [p.name, p]));
    assert.equal(ports.data.port, c.origin.port);
    assert.equal(portNumber(container, ports.data.targetPort), c.origin.port);
    assert.equal(ports.admin.port, c.origin.adminPort);
  });

  test(`${c.name}: the cache node StatefulSet, its claims, probes, peers and headless Service`, () => {
    const sts = c.rendered.one('StatefulSet', c.cacheName);
    assert.equal(sts.spec.replicas, c.replicas);
    assert.equal(sts.spec.serviceName, c.peersName);
    const container = Rendered.container(sts, 'cache-node');
    const cmd = container.args;
    assert.deepEqual(container.command, ['mei-cache-node']);
    const podName = container.env.find((e) => e.name === 'POD_NAME');
    assert.equal(
      podName?.valueFrom?.fieldRef?.fieldPath,
      'metadata.name',
      'POD_NAME is not the pod name',
    );
    assert.equal(argValue(cmd, '--node-id'), '$(POD_NAME)');
    assert.equal(argValue(cmd, '--parent'), c.originUrl);
    assert.equal(argValue(cmd, '--capacity'), c.cache.capacity);
    assert.equal(argValue(cmd, '--policy'), c.cache.policy);
    assert.equal(argValue(cmd, '--listen'), `0.0.0.0:${c.cache.port}`);
    assert.equal(argValue(cmd, '--admin-listen'), `0.0.0.0:${c.cache.adminPort}`);
    const peers = cmd.filter((a) => a.startsWith('--peer=')).map((a) => a.slice('--peer='.length));
    assert.deepEqual(
      peers,
      c.nodeIds.map((id, i) => `${id}=http://${c.nodeHost(i)}:${c.cache.port}`),
    );
    for (const extra of c.cache.extraArgs)
      assert.ok(cmd.includes(extra), `cache node lacks ${extra}`);
    assertProbes(container, c.cache.port);
    assertResources(container, c.cache.resources);
    assertReadsToken(c, sts, container, argValue(cmd, '--admin-token-file'));

    const store = argValue(cmd, '--store');
    const mount = container.volumeMounts.find((m) => store.startsWith(m.mountPath + '/'));
    assert.ok(mount, 'the store is not on a volume');
    const templates = sts.spec.volumeClaimTemplates ?? [];
    const claim = templates.find((t) => t.metadata.name === mount.name);
    assert.ok(claim, 'the store is not on a volumeClaimTemplate: nodes would share or lose it');
    assert.ok(
      !(Rendered.podSpec(sts).volumes ?? []).some((v) => v.name === mount.name),
      'a pod volume shadows the claim template',
    );
    assert.equal(claim.spec.resources.requests.storage, c.cache.size);
    assert.equal(claim.spec.storageClassName, c.cache.storageClass);

    const headless = c.rendered.one('Service', c.peersName);
    assert.equal(headless.spec.clusterIP, 'None');
    for (const [k, v] of Object.entries(headless.spec.selector)) {
      assert.equal(
        sts.spec.template.metadata.labels[k],
        v,
        `the headless Service selects ${k}=${v}`,
      );
    }
    const ports = Object.fromEntries(headless.spec.ports.map((p) => [p.name, p]));
    assert.equal(ports.data.port, c.cache.port);
    assert.equal(portNumber(container, ports.data.targetPort), c.cache.port);
    assert.equal(ports.admin.port, c.cache.adminPort);
    assert.equal(portNumber(container, ports.admin.targetPort), c.cache.adminPort);
    assert.equal(c.rendered.one('Service', c.cacheName).spec.clusterIP, undefined);
  });

  test(`${c.name}: the placement CronJob, its topology and its script`, () => {
    const cron = c.rendered.one('CronJob', `${c.prefix}-placement`);
    assert.equal(cron.spec.schedule, c.placement.schedule);
    assert.equal(cron.spec.concurrencyPolicy, 'Forbid');
    const container = Rendered.container(cron, 'placement');
    assertResources(container, c.placement.resources);
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
    assertReadsToken(c, cron, container, env.TOKEN_FILE);
    const configMount = container.volumeMounts.find((m) => m.mountPath === env.CONFIG_DIR);
    const configVolume = Rendered.podSpec(cron).volumes.find((v) => v.name === configMount?.name);
    assert.equal(configVolume?.configMap?.name, `${c.prefix}-placement`);
    assert.deepEqual(container.command, [
      '/bin/sh',
      path.join(env.CONFIG_DIR, 'placement-cycle.sh'),
    ]);

    const data = c.rendered.one('ConfigMap', `${c.prefix}-placement`).data;
    assert.ok(data['placement-cycle.sh'].startsWith('#!/bin/sh\n'));
    const scenario = JSON.parse(data['scenario.json']);
    assert.equal(scenario.schema, 'mei.placement.scenario.v1');
    assert.deepEqual(
      scenario.topology.nodes,
      c.nodeIds.map((id, i) => ({
        id,
        url: `http://${c.nodeHost(i)}:${c.cache.port}`,
        capacity: c.placement.capacityBytes,
      })),
    );
    const nodeLines = data['nodes.txt'].split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    assert.deepEqual(
      nodeLines.map((l) => l.trim().split(/\s+/)),
      c.nodeIds.map((id, i) => [id, `http://${c.nodeHost(i)}:${c.cache.adminPort}`]),
    );
    assert.ok(
      data['placement-cycle.sh'].includes(`origin='${c.originUrl}'`),
      'the script asks another origin',
    );
  });

  test(`${c.name}: mei-cache-node --check-config accepts the rendered command line of every node`, () => {
    const sts = c.rendered.one('StatefulSet', c.cacheName);
    for (const podName of c.nodeIds) {
      const root = scratchDir('check');
      const local = new LocalContainer({
        rendered: c.rendered,
        workload: sts,
        containerName: 'cache-node',
        podName,
        root,
        secrets: c.givenSecrets,
      });
      const [program, ...rest] = local.commandLine();
      assert.equal(program, binaries['mei-cache-node']);
      const run = spawnSync(program, [...rest, '--check-config'], {
        env: local.processEnv(),
        encoding: 'utf8',
      });
      assert.equal(
        run.status,
        0,
        `mei-cache-node ${rest.join(' ')} --check-config:\n${run.stdout}${run.stderr}`,
      );
      assert.match(
        run.stdout,
        new RegExp(`^node ${podName}: .*, ${c.replicas} peer\\(s\\), `, 'm'),
      );
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test(`${c.name}: every flag given to mei-origin is one mei-origin serve --help lists`, () => {
    const container = Rendered.container(c.rendered.one('Deployment', c.originName), 'origin');
    const [subcommand, ...rest] = container.args;
    assert.ok(
      helpOf('mei-origin').subcommands.has(subcommand),
      `mei-origin has no subcommand ${subcommand}`,
    );
    const { flags } = helpOf('mei-origin', [subcommand]);
    for (const arg of rest) {
      const flag = flagName(arg);
      assert.ok(flag, `mei-origin serve argument ${arg} is not a --flag`);
      assert.ok(flags.has(flag), `mei-origin serve does not accept ${flag}`);
    }
  });

  test(`${c.name}: every meictl and mei-placement command of the placement script uses flags they list`, () => {
    const script = c.rendered.one('ConfigMap', `${c.prefix}-placement`).data['placement-cycle.sh'];
    const commands = script
      .replace(/\\\n/g, ' ')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^(meictl|mei-placement)\s/.test(l));
    const seen = commands.map((l) => l.split(/\s+/)[0] + ' ' + checkCommand(l));
    assert.deepEqual(seen, [
      'meictl trace pull',
      'mei-placement fit',
      'mei-placement solve',
      'meictl plan apply',
    ]);
  });
}

// Walks a command line of meictl or mei-placement down its subcommands as their --help lists
// them, checks each --flag against the help of the subcommands on the way, and returns the
// subcommand path ("trace pull").
function checkCommand(line) {
  const [binary, ...words] = line.split(/\s+/).map((w) => w.replace(/^['"]|['"]$/g, ''));
  const subcommands = [];
  let help = helpOf(binary);
  const flags = new Set(help.flags);
  for (const word of words) {
    if (help.subcommands.has(word)) {
      subcommands.push(word);
      help = helpOf(binary, subcommands);
      for (const f of help.flags) flags.add(f);
    }
  }
  assert.ok(subcommands.length > 0, `${line}: no subcommand`);
  for (const word of words) {
    const flag = flagName(word);
    if (flag)
      assert.ok(flags.has(flag), `${binary} ${subcommands.join(' ')} does not accept ${flag}`);
  }
  return subcommands.join(' ');
}

test('the checks catch a flag the binaries do not accept', () => {
  const c = configurations[0];
  const root = scratchDir('bad');
  const local = new LocalContainer({
    rendered: c.rendered,
    workload: c.rendered.one('StatefulSet', c.cacheName),
    containerName: 'cache-node',
    podName: c.nodeIds[0],
    root,
  });
  const [program, ...rest] = local.commandLine();
  const run = spawnSync(program, [...rest, '--no-such-flag=1', '--check-config'], {
    env: local.processEnv(),
    encoding: 'utf8',
  });
  assert.notEqual(run.status, 0, 'mei-cache-node accepted --no-such-flag');
  assert.throws(
    () => checkCommand('meictl --topology x trace pull --no-such-flag 1'),
    /does not accept --no-such-flag/,
  );
  assert.throws(
    () => checkCommand('mei-placement solve --scenario s --algorithm greedy'),
    /does not accept --algorithm/,
  );
  fs.rmSync(root, { recursive: true, force: true });
});

test('helm template refuses bad settings with a sentence', () => {
  const cases = [
    [['adminToken.value=short'], /adminToken.value must be 16 to 4096/],
    [
      ['adminToken.value=0123456789abcdef0', 'adminToken.existingSecret=x'],
      /either value or existingSecret/,
    ],
    [['cache.capacity=twenty'], /cache.capacity is "twenty"/],
    [['placement.capacity=1.5GiB'], /placement.capacity is "1.5GiB"/],
    [['cache.replicas=0'], /cache.replicas must be at least 1/],
  ];
  for (const [set, message] of cases) {
    const result = helm(['template', 'mei', chartDir, ...set.flatMap((s) => ['--set', s])]);
    assert.notEqual(result.status, 0, `helm template accepted ${set.join(' ')}`);
    assert.match(result.stderr, message);
  }
  const given = render({ set: ['adminToken.value=0123456789abcdef0'] });
  assert.equal(given.secretData('mei-mei-cdn-admin-token').token, '0123456789abcdef0');
});
