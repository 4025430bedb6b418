#!/usr/bin/env node
// Reference OpenZeppelin StandardMerkleTree for tests/test_merkle.py.
//
// stdin:  {"types": ["bytes32", "uint64", ...], "values": [[...], ...]}
//         (big integers as decimal strings, bytes32 as 0x-hex strings)
// stdout: {"root": "0x..", "proofs": [["0x..", ...], ...], "tree": ["0x..", ...],
//          "leafHashes": ["0x..", ...]}
//         proofs[k] and leafHashes[k] belong to values[k] (input order); tree is dump().tree.
//
// The library is required by a path relative to this file (tests/js -> repo root), so the
// script works from any working directory.
'use strict';

const path = require('path');

const { StandardMerkleTree } = require(
  path.join(__dirname, '..', '..', 'node_modules', '@openzeppelin', 'merkle-tree'),
);

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

async function main() {
  const input = JSON.parse(await readStdin());
  if (!Array.isArray(input.types) || !Array.isArray(input.values)) {
    throw new Error('input must be {"types": [...], "values": [[...], ...]}');
  }
  const tree = StandardMerkleTree.of(input.values, input.types);
  const dump = tree.dump();
  const proofs = [];
  const leafHashes = [];
  for (let k = 0; k < input.values.length; k++) {
    proofs.push(tree.getProof(k));
    leafHashes.push(dump.tree[dump.values[k].treeIndex]);
  }
  process.stdout.write(JSON.stringify({ root: tree.root, proofs, tree: dump.tree, leafHashes }));
}

main().catch((err) => {
  process.stderr.write(`merkle_reference: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
