import re,sys,html
def text(p):
    d=open(p,encoding="utf-8").read()
    # each <text> element with x,y -> reconstruct lines by y
    rows={}
    for m in re.finditer(r'<text[^>]*?x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', d, re.S):
        x,y,t=float(m.group(1)),float(m.group(2)),html.unescape(re.sub('<[^>]+>','',m.group(3))).replace('\xa0',' ')
        rows.setdefault(y,[]).append((x,t))
    out=[]
    for y in sorted(rows):
        out.append(''.join(t for x,t in sorted(rows[y])).rstrip())
    return out
a,b=text(sys.argv[1]),text(sys.argv[2])
import difflib
print('\n'.join(difflib.unified_diff(a,b,lineterm='',n=0)))
