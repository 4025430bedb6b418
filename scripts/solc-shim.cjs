#!/usr/bin/env node
/*
 * A `solc`-compatible command line over solc-js (npm `solc`, the official compiler built to
 * WebAssembly), so that py-solc-x (`solc_binary=`) and Foundry's `forge` can use it unchanged
 * (DESIGN.md §3 "Solidity compiler": no native solc can be installed here).
 *
 * Supported:
 *   solc --version             prints "solc, the solidity compiler commandline interface\nVersion: <v>"
 *                              with solc-js's own version string (e.g. 0.8.28+commit.7893614a.Emscripten.clang)
 *   solc --standard-json       reads Standard JSON input on stdin, writes Standard JSON output on stdout
 * Accepted and honoured:       --base-path X, --include-path X (repeatable): roots for import resolution
 * Accepted and ignored:        --allow-paths X, --pretty-json, --json-indent N, --no-import-callback is
 *                              honoured (imports then must be given inline), any other `--flag`.
 *
 * Import callback: a source unit name starting with "@" (e.g. "@openzeppelin/contracts/...") is
 * looked up in node_modules of the project root, the base path and the include paths; any other
 * name is resolved against the base path (default: the current directory) and then the include
 * paths. Files outside those roots are refused, like native solc's --allow-paths policy.
 *
 * Exit status: 0 when the compiler ran (compilation errors are reported inside the JSON, as
 * native solc does), 1 on a command-line error. process.exit() is never called after writing,
 * so piped output is never truncated.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const PROJECT_ROOT = path.resolve(__dirname, '..');
const FLAGS_WITH_VALUE = new Set([
  '--base-path', '--include-path', '--allow-paths', '--json-indent', '--output-dir', '-o',
  '--evm-version', '--optimize-runs', '--libraries', '--remappings',
]);

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, includePaths: [],
                 importCallback: true, help: false, positional: [] };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value = null;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    if (eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    } else if (FLAGS_WITH_VALUE.has(arg)) {
      value = argv[++i];
    }
    switch (arg) {
      case '--version': opts.version = true; break;
      case '--standard-json': opts.standardJson = true; break;
      case '--help': case '-h': opts.help = true; break;
      case '--base-path': opts.basePath = value; break;
      case '--include-path': if (value) opts.includePaths.push(value); break;
      case '--no-import-callback': opts.importCallback = false; break;
      default:
        if (!arg.startsWith('-')) opts.positional.push(arg);
        // any other flag (e.g. --allow-paths X, --pretty-json) is accepted and ignored
    }
  }
  return opts;
}

function loadSolc() {
  return require(path.join(PROJECT_ROOT, 'node_modules', 'solc'));
}

function isInside(root, file) {
  const rel = path.relative(root, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function makeImportCallback(basePath, includePaths) {
  const roots = [basePath, ...includePaths].map((p) => path.resolve(p));
  const moduleRoots = [path.join(PROJECT_ROOT, 'node_modules'),
                       ...roots.map((r) => path.join(r, 'node_modules'))];
  return function findImports(unitName) {
    const candidates = [];
    if (unitName.startsWith('@')) {
      for (const m of moduleRoots) candidates.push([m, path.join(m, unitName)]);
    }
    if (path.isAbsolute(unitName)) {
      for (const r of roots) candidates.push([r, unitName]);
    } else {
      for (const r of roots) candidates.push([r, path.join(r, unitName)]);
    }
    for (const [root, file] of candidates) {
      if (!isInside(root, file)) continue;
      try {
        return { contents: fs.readFileSync(file, 'utf8') };
      } catch (e) {
        if (e.code !== 'ENOENT' && e.code !== 'ENOTDIR') {
          return { error: `Cannot read ${file}: ${e.message}` };
        }
      }
    }
    return { error: `File not found: ${unitName} (searched ${candidates.map((c) => c[1]).join(', ')})` };
  };
}

function fatalJson(message) {
  return JSON.stringify({
    errors: [{ component: 'general', severity: 'error', type: 'JSONError',
               message, formattedMessage: message }],
  });
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write('solc-shim: a solc-compatible command over solc-js.\n'
      + 'Usage: solc --version | solc --standard-json [--base-path DIR] [--include-path DIR]...\n');
    return;
  }
  if (opts.version) {
    const solc = loadSolc();
    process.stdout.write(
      `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) {
    process.stderr.write('Error: only --version and --standard-json are supported by this '
      + 'solc-js shim (scripts/solc-shim.cjs)\n');
    process.exitCode = 1;
    return;
  }
  const input = await readStdin();
  const solc = loadSolc();
  const basePath = opts.basePath ? opts.basePath : process.cwd();
  let output;
  try {
    JSON.parse(input);
    const callbacks = opts.importCallback
      ? { import: makeImportCallback(basePath, opts.includePaths) } : {};
    output = solc.compile(input, callbacks);
  } catch (e) {
    output = fatalJson(`solc-shim: ${e.message}`);
  }
  process.stdout.write(output.endsWith('\n') ? output : output + '\n');
}

main().catch((e) => {
  process.stderr.write(`Error: ${e && e.stack ? e.stack : e}\n`);
  process.exitCode = 1;
});
