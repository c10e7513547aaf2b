/* The sheet's changes as data: each frame as loaded, actions replayed over it, what changed, and
   what a run after `storyboard apply` would send again and cost (sheet/editing.py says what each
   frame depends on; this applies it to the changes at hand). No DOM: editor.js draws it.
   Inlined into index.html before editor.js. */
window.storyboardChanges = function (data) {
  'use strict';
  const cfg = data.editor;
  const NO_READS = { number: false, previous: [], frames: {}, any: false, position_seed: false };
  // One record per frame: the page's frame data, the editor's additions, the defaults they leave out.
  const frames = cfg.frames.map((e, i) => {
    const d = data.frames[i];
    return {
      key: d.id || '#' + d.number, name: d.id || String(d.number), id: d.id, number: d.number,
      caption: d.caption, notes: d.notes, status: e.edited ? 'edited' : d.status,
      pick: e.pick, cost: e.cost, takes: e.takes || [], dialogue: e.dialogue || [], lock: Boolean(e.lock),
      source: e.source || null, reads: Object.assign({}, NO_READS, e.reads || {}), requests: e.requests || 1,
    };
  });
  const FIELDS = ['pick', 'caption', 'notes', 'dialogue', 'lock'];
  const byKey = new Map(frames.map((f) => [f.key, f]));
  const baseOrder = frames.map((f) => f.key);
  const digits = Math.max(2, String(frames.length).length);
  const pad = (n) => String(n).padStart(digits, '0');
  const base = {};
  frames.forEach((f) => {
    base[f.key] = { pick: f.pick, caption: f.caption ?? null, notes: f.notes ?? null, dialogue: f.dialogue, lock: f.lock };
  });
  const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  const clone = (o) => JSON.parse(JSON.stringify(o));

  function replay(list) {
    const s = { values: clone(base), order: baseOrder.slice() };
    for (const a of list) {
      if (a.type === 'reset') { s.values = clone(base); s.order = baseOrder.slice(); continue; }
      if (a.type === 'set') { s.values[a.key][a.field] = clone(a.value); continue; }
      const i = s.order.indexOf(a.key);
      s.order.splice(i, 1);
      s.order.splice(Math.max(0, Math.min(a.to, s.order.length)), 0, a.key);
    }
    return s;
  }

  // What changed, and what a run would send again --------------------------------------------------
  // A dialogue line still empty (just added, nothing typed yet) is no line.
  const spoken = (lines) => lines.filter((d) => d.line.trim() !== '');
  // ...but one the story itself has empty (a beat: `- mira: ""`) is kept, as many as it has per speaker.
  function saidOf(lines, was) {
    const beats = new Map();
    for (const d of was) if (d.line.trim() === '') beats.set(d.speaker, (beats.get(d.speaker) || 0) + 1);
    return lines.filter((d) => {
      if (d.line.trim() !== '') return true;
      const n = beats.get(d.speaker) || 0;
      beats.set(d.speaker, n - 1);
      return n > 0;
    });
  }
  function netChanges(s) {
    const out = [];
    for (const k of baseOrder) {
      for (const field of FIELDS) {
        const after = field === 'dialogue' ? saidOf(s.values[k][field], base[k][field]) : s.values[k][field];
        if (!same(after, base[k][field])) out.push({ frame: k, field: field, before: base[k][field], after: after });
      }
    }
    return out;
  }

  // The fewest frames that moved: those outside a longest run kept in their old relative order
  // (old positions: the story's as loaded, unless given).
  const basePos = new Map(baseOrder.map((k, i) => [k, i]));
  function movedFrames(order, from) {
    const pos = order.map((k) => (from || basePos).get(k));
    const tails = [], prev = new Array(pos.length), idx = [];
    pos.forEach((p, i) => {
      let lo = 0, hi = tails.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (tails[mid] < p) lo = mid + 1; else hi = mid; }
      tails[lo] = p; idx[lo] = i; prev[i] = lo > 0 ? idx[lo - 1] : -1;
    });
    const keep = new Set();
    for (let i = idx[tails.length - 1]; i !== undefined && i >= 0; i = prev[i]) keep.add(order[i]);
    return order.filter((k) => !keep.has(k));
  }

  function affected(s) {
    const pos0 = new Map(baseOrder.map((k, i) => [k, i]));
    const pos1 = new Map(s.order.map((k, i) => [k, i]));
    const before = (order, pos, k) => (cfg.adventure || pos.get(k) === 0 ? null : order[pos.get(k) - 1]);
    const moved = (k) => pos0.get(k) !== pos1.get(k);
    const captionChanged = (k) => !same(s.values[k].caption, base[k].caption);
    const pickChanged = (k) => !same(s.values[k].pick, base[k].pick);
    const kept = (k) => s.values[k].lock || byKey.get(k).status === 'edited';
    const anything = s.order.some((k, i) => k !== baseOrder[i]) || baseOrder.some(captionChanged);
    const prompt = new Set(), image = new Set();
    for (let grew = true; grew;) {
      grew = false;
      for (const f of frames) {
        const k = f.key, r = f.reads;
        const p0 = before(baseOrder, pos0, k), p1 = before(s.order, pos1, k);
        if (!prompt.has(k)) {
          let d = (r.any && anything) || ((r.number || r.position_seed) && moved(k));
          for (const a of r.previous) {
            if (a === 'image') continue;
            if (a === 'number') d = d || moved(k);
            else if (p0 !== p1) d = true;
            else if (p1) d = d || (a === 'caption' && captionChanged(p1)) || (a === 'prompt' && prompt.has(p1));
          }
          for (const [id, attrs] of Object.entries(r.frames)) {
            if (!byKey.has(id)) continue;
            for (const a of attrs) d = d || (a === 'caption' && captionChanged(id)) || (a === 'prompt' && prompt.has(id)) || (a === 'number' && moved(id));
          }
          if (d) { prompt.add(k); grew = true; }
        }
        if (!image.has(k) && !kept(k)) {
          let d = prompt.has(k);
          let src = f.source;
          if (r.previous.includes('image')) { d = d || p0 !== p1; src = p1; }
          if (src && byKey.has(src)) d = d || pickChanged(src) || image.has(src);
          if (d) { image.add(k); grew = true; }
        }
      }
    }
    return s.order.filter((k) => image.has(k));
  }

  function money(v) {
    if (cfg.free) return 'free';
    if (v === null) return 'cost unknown';
    return '≈$' + (v > 0 && v < 0.1 ? v.toFixed(3) : v.toFixed(2));
  }

  function costOf(keys) {
    let total = 0, requests = 0;
    for (const k of keys) {
      const f = byKey.get(k);
      requests += f.requests;
      if (total !== null) total = f.cost === null ? null : total + f.cost;
    }
    return { total: total, requests: requests };
  }

  const nameOf = (k) => byKey.get(k).name;
  const plural = (n, one, many) => n + ' ' + (n === 1 ? one : many);
  const names = (keys) => keys.map(nameOf).join(', ');

  function effect(keys, none, some) {
    if (!keys.length) return none;
    const c = costOf(keys);
    return some(keys) + ' (' + names(keys) + '), ' + money(c.total);
  }

  function describe(c, state) {
    const only = { values: clone(base), order: baseOrder.slice() };
    if (c.field === 'order') only.order = state.order.slice();
    else only.values[c.frame][c.field] = c.after;
    const keys = affected(only);
    if (c.field === 'order') {
      // In an adventure the order means one thing more: the first frame is where the reader starts.
      const start = cfg.adventure && state.order[0] !== baseOrder[0] ? '; the adventure now starts at ' + nameOf(state.order[0]) : '';
      return effect(keys, 'The new order renumbers the frame files and sends nothing' + start,
        (ks) => 'The new order renumbers the frame files and re-runs ' + plural(ks.length, 'frame that follows', 'frames that follow') + ' the order') +
        (keys.length ? start : '');
    }
    const who = nameOf(c.frame);
    if (c.field === 'pick') {
      const take = c.after === 'edited' ? 'the edited take' : 'take ' + c.after;
      return effect(keys, 'Picking ' + take + ' of ' + who + ' sends nothing',
        (ks) => 'Picking ' + take + ' of ' + who + ' re-runs ' + plural(ks.length, 'chained frame', 'chained frames'));
    }
    if (c.field === 'lock') return (c.after ? 'Locking ' : 'Unlocking ') + who + (c.after ? ' keeps its image; sends nothing' : ' sends nothing');
    const what = { caption: 'The caption', notes: 'The notes', dialogue: 'The dialogue' }[c.field] + ' of ' + who;
    return effect(keys, what + ' sends nothing',
      (ks) => what + ' re-runs ' + plural(ks.length, 'frame that quotes it', 'frames that quote it'));
  }

  return {
    cfg: cfg, frames: frames, byKey: byKey, baseOrder: baseOrder, base: base, FIELDS: FIELDS, pad: pad, same: same,
    clone: clone, replay: replay, netChanges: netChanges, movedFrames: movedFrames, affected: affected,
    costOf: costOf, money: money, describe: describe, names: names, plural: plural, spoken: spoken,
  };
};
