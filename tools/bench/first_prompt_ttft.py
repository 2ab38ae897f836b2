# first_prompt_ttft.py BINARY MODEL PROMPTS SPEEDUP RUNS: `latte generate --json` on every line of
# PROMPTS in one process, RUNS times; per prompt position the minimum over the runs of ttft_ms (and
# setup_ms), first prompt against the later ones (issue 20, point 4; docs/benchmarks.md).
import json
import statistics
import subprocess
import sys

binary, model, prompts, speedup, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ttft, setup = {}, {}
for r in range(runs):
    out = subprocess.run([binary, 'generate', '--model', model, '--json', '--max-new-tokens', '4',
                          '--threads', '2', '--speedup', speedup, '--input', prompts],
                         capture_output=True, text=True).stdout
    for i, line in enumerate(out.splitlines()):
        d = json.loads(line)
        ttft.setdefault(i, []).append(d['ttft_ms'])
        if 'setup_ms' in d: setup.setdefault(i, []).append(d['setup_ms'])
first = min(ttft[0]); later = [min(v) for k, v in ttft.items() if k > 0]
print(f"{binary.split('/')[-1]} S={speedup}: first prompt ttft {first:.1f} ms, later prompts {min(later):.1f}-{max(later):.1f} ms (median {statistics.median(later):.1f})"
      + (f"; setup_ms first {min(setup[0]):.1f}, later <= {max(min(v) for k, v in setup.items() if k > 0):.2f}" if setup else ""))
