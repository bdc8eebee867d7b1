// Preloaded (node --expose-gc -r bench/gc-on-signal.cjs) into every server that bench/idle-memory.sh measures,
// ours and the anchors alike: on SIGUSR2, two full GCs, then process.memoryUsage() is written to
// $MEM_REPORT_DIR/mu.<pid>.json for the load script to read. Garbage left by the handshakes is then not counted
// as per-connection memory, which made plain RSS readings differ by ±0.3 KiB per connection from run to run.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dir = process.env.MEM_REPORT_DIR || '/tmp';
process.on('SIGUSR2', () => {
  global.gc();
  global.gc();
  fs.writeFileSync(path.join(dir, `mu.${process.pid}.json`), JSON.stringify(process.memoryUsage()));
});
