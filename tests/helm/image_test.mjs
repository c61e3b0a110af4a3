// The Dockerfile at the repository root, read without Docker: both stages on Debian 12, the build
// stage builds with the project's scripts and without tests, the runtime stage installs the
// Debian package of every shared library the built binaries link (found with objdump, ldd and
// dpkg-query on this Debian 12 machine) plus curl and jq for the placement job, copies the five
// binaries the chart runs, and runs as the user the chart's pods run as. Run by ctest
// (HelmImagePackages).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { binaries, binaryDir, chartDir, sourceDir } from './rendered_chart.mjs';

const dockerfile = fs.readFileSync(path.join(sourceDir, 'Dockerfile'), 'utf8');

// The instructions of each stage, continuation lines joined and comments dropped.
function stages(text) {
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const result = [];
  for (const line of instructions) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) result.push({ image: from[1], name: from[2], lines: [] });
    else if (result.length) result[result.length - 1].lines.push(line);
  }
  return result;
}

// The packages that `apt-get install` lines of a stage name.
function installedPackages(stage) {
  const packages = new Set();
  for (const line of stage.lines.filter((l) => /^RUN\s/i.test(l))) {
    for (const command of line.split(/&&|;/)) {
      const m = /apt-get\s+install\s+(.*)$/.exec(command);
      if (!m) continue;
      for (const word of m[1].trim().split(/\s+/)) if (!word.startsWith('-')) packages.add(word);
    }
  }
  return packages;
}

function run(program, args) {
  const result = spawnSync(program, args, { encoding: 'utf8' });
  if (result.error) throw new Error(`${program}: ${result.error.message}`);
  assert.equal(result.status, 0, `${program} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

// The Debian package that ships a shared library file (symlinks resolved; with merged /usr, dpkg
// may know the file under /lib or /usr/lib).
const packageOfFile = new Map();
function packageOf(file) {
  const real = fs.realpathSync(file);
  if (packageOfFile.has(real)) return packageOfFile.get(real);
  const owners = run('dpkg-query', ['-S', `*/${path.basename(real)}`])
    .split('\n')
    .map((l) => /^(.+?): (\/.*)$/.exec(l))
    .filter(Boolean)
    .filter((m) => fs.existsSync(m[2]) && fs.realpathSync(m[2]) === real)
    .map((m) => m[1]);
  const names = [
    ...new Set(owners.flatMap((o) => o.split(', ')).map((o) => o.replace(/:.*$/, ''))),
  ];
  assert.equal(names.length, 1, `${real} belongs to ${names.join(', ') || 'no package'}`);
  packageOfFile.set(real, names[0]);
  return names[0];
}

// Library name -> package, for the libraries `binary` needs directly (its NEEDED entries; what
// those need in turn comes with their packages' dependencies).
function neededPackages(binary) {
  const needed = run('objdump', ['-p', binary])
    .split('\n')
    .map((l) => /^\s*NEEDED\s+(\S+)/.exec(l)?.[1])
    .filter(Boolean);
  const resolved = new Map(
    run('ldd', [binary])
      .split('\n')
      .map((l) => /^\s*(\S+)\s+=>\s+(\/\S+)/.exec(l))
      .filter(Boolean)
      .map((m) => [m[1], m[2]]),
  );
  const result = new Map();
  for (const library of needed) {
    assert.ok(resolved.has(library), `${binary}: ldd does not resolve ${library}`);
    result.set(library, packageOf(resolved.get(library)));
  }
  return result;
}

const [build, runtime, ...more] = stages(dockerfile);

test('the Dockerfile has a build stage and a runtime stage, both Debian 12', () => {
  assert.equal(more.length, 0, 'more than two stages');
  assert.ok(build && runtime, 'not two stages');
  assert.match(build.image, /^debian:(12|bookworm)(-slim)?$/);
  assert.match(runtime.image, /^debian:(12|bookworm)(-slim)?$/);
  assert.ok(build.name, 'the build stage has no name');
});

test('the build stage installs with scripts/setup and builds with scripts/build, tests off', () => {
  const runs = build.lines.filter((l) => /^RUN\s/i.test(l)).join('\n');
  assert.match(runs, /scripts\/setup(?!\s+--test)/);
  assert.match(runs, /scripts\/build\b[^\n]*-DMEI_BUILD_TESTS=OFF/);
});

test('the runtime stage holds the five binaries the chart runs, in /usr/local/bin', () => {
  const copy = runtime.lines.find((l) =>
    new RegExp(`^COPY\\s+--from=${build.name}\\s`, 'i').test(l),
  );
  assert.ok(copy, `the runtime stage copies nothing from ${build.name}`);
  assert.match(copy, /\s\/usr\/local\/bin\/?$/);
  for (const binary of Object.values(binaries)) {
    const relative = path.relative(binaryDir, binary);
    assert.ok(dockerfile.includes(`/${relative}`), `the build stage does not install ${relative}`);
  }
});

test("the runtime stage runs as the user and group the chart's pods run as", () => {
  const values = yaml.load(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
  const user = runtime.lines.filter((l) => /^USER\s/i.test(l)).pop();
  const { runAsUser, runAsGroup } = values.podSecurityContext;
  assert.equal(user, `USER ${runAsUser}:${runAsGroup}`);
});

test('the runtime stage installs the package of every library the binaries link, and curl and jq', () => {
  const packages = installedPackages(runtime);
  for (const tool of ['curl', 'jq'])
    assert.ok(packages.has(tool), `the runtime stage lacks ${tool}`);
  const missing = [];
  for (const binary of Object.values(binaries)) {
    for (const [library, pkg] of neededPackages(binary)) {
      if (pkg !== 'libc6' && !packages.has(pkg))
        missing.push(`${pkg} (${library}, ${path.basename(binary)})`);
    }
  }
  assert.deepEqual([...new Set(missing)], [], 'packages the runtime stage does not install');
  assert.ok(
    packages.has('librocksdb7.8'),
    'the check found no RocksDB: it did not read the binaries',
  );
});
