#!/usr/bin/env python3
# Per-run ratios of BenchmarkBulkTCPCapture A/B output (bench/RESULTS.md, capture):
# each binary run's mode over the capture=off of the same run, medians and ranges.
# usage: python3 bench/capture_ratios.py bench/capture-ab-2026-12-02.txt
import re,sys,statistics as st
runs={}  # (variant, runidx) -> mode -> (gbit, cpu)
cnt={}
for line in open(sys.argv[1]):
    m=re.match(r'BenchmarkBulkTCPCapture/v=(\w+)/capture=([\w-]+)-2\s+\d+\s+\d+ ns/op.*?([\d.]+) Gbit/s\s+([\d.]+) cpu-ns/op',line)
    if not m: continue
    v,mode,g,c=m.group(1),m.group(2),float(m.group(3)),float(m.group(4))
    if mode=='off': cnt[v]=cnt.get(v,0)+1
    runs.setdefault((v,cnt[v]),{})[mode]=(g,c)
vs=sorted({k[0] for k in runs}, key=lambda x: ['old','new','b4m','once','bufio'].index(x) if x in ['old','new','b4m','once','bufio'] else 9)
for v in vs:
    rs=[r for k,r in runs.items() if k[0]==v]
    out=[]
    for mode in ['file','discard','file-snap128']:
        tr=[r[mode][0]/r['off'][0] for r in rs if mode in r]
        cr=[r[mode][1]/r['off'][1] for r in rs if mode in r]
        out.append(f"{mode}: thr {st.median(tr)*100:.0f}% [{min(tr)*100:.0f}-{max(tr)*100:.0f}] cpu x{st.median(cr):.2f}")
    offg=st.median([r['off'][0] for r in rs]); offc=st.median([r['off'][1] for r in rs])
    print(f"{v:5} n={len(rs)} off {offg:.1f} Gbit/s {offc/1000:.0f}µs-cpu | "+" | ".join(out))
