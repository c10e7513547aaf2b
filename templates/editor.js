/* The contact sheet as an editor (its data: changes.js): pick takes, edit captions, notes and
   dialogue, lock frames and reorder them; every change shows at once, is counted, kept in
   localStorage (per version of the story, so two tabs stay in step) and can be undone; "Save
   changes" downloads the changes file that `storyboard apply` writes into the story. Inlined into
   index.html after sheet.js and changes.js.
   User text only ever reaches the page through textContent and form values, never as markup. */
(function () {
  'use strict';
  const dataEl = document.getElementById('sb-data');
  const data = dataEl && JSON.parse(dataEl.textContent);
  if (!data || !data.editor || !data.editor.frames.length || !window.storyboardChanges) return;
  const model = window.storyboardChanges(data);
  const { cfg, frames, byKey, baseOrder, base, FIELDS, pad, same, replay, netChanges, movedFrames, affected,
    costOf, money, names, plural, spoken } = model;
  const describe = (c) => model.describe(c, state);
  const shared = window.storyboardSheet || null;  // sheet.js: the lightbox's frames
  const $ = (sel, root) => (root || document).querySelector(sel);
  const el = (tag, props, kids) => {
    const n = document.createElement(tag);
    Object.entries(props || {}).forEach(([k, v]) => {
      if (k === 'text') n.textContent = v;
      else if (k === 'class') n.className = v;
      else if (k.startsWith('aria-') || k.startsWith('data-') || k === 'title' || k === 'role') n.setAttribute(k, v);
      else n[k] = v;
    });
    (kids || []).forEach((c) => n.appendChild(c));
    return n;
  };

  // History: a list of actions replayed over the story as loaded ----------------------------------
  function valid(a) {
    if (!a || typeof a !== 'object') return false;
    if (a.type === 'reset') return true;
    if (!byKey.has(a.key)) return false;
    if (a.type === 'move') return Number.isInteger(a.to) && Boolean(byKey.get(a.key).id);
    return a.type === 'set' && FIELDS.includes(a.field);
  }

  function stored() {
    try { return localStorage.getItem(cfg.storage); } catch (e) { return null; }
  }

  // The stored changes (text) as this tab's history and the last saved state.
  function parse(raw) {
    try {
      const s = JSON.parse(raw || 'null');
      return { actions: s && Array.isArray(s.actions) ? s.actions.filter(valid) : [], saved: (s && s.saved) || null };
    } catch (e) { return { actions: [], saved: null }; }
  }

  // What each changed field said in this version of the story: unsaved changes found again after the
  // story was edited by hand (and run) come back only where the story still says the same.
  function wasOf(list) {
    const was = {};
    list.forEach((a) => { if (a.type === 'set' && byKey.has(a.key)) was[a.key + '\n' + a.field] = base[a.key][a.field]; });
    return was;
  }

  function persist() {
    try {
      if (actions.length) localStorage.setItem(cfg.storage, JSON.stringify({ version: 1, actions: actions, saved: savedNet,
        file: cfg.story.file, when: Date.now(), was: wasOf(actions), order: baseOrder }));
      else localStorage.removeItem(cfg.storage);
      seen = localStorage.getItem(cfg.storage);
    } catch (e) { /* private mode or full: the changes live in this tab only */ }
  }

  let seen = stored();  // the stored changes as this tab last wrote or read them
  let { actions, saved: savedNet } = parse(seen);

  // Unsaved changes kept for an earlier version of this story (edited by hand and run since): offered back.
  function earlierChanges() {
    if (actions.length || !cfg.storage_prefix) return null;
    let found = null;
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i);
        if (!k || k === cfg.storage || !k.startsWith(cfg.storage_prefix)) continue;
        const s = JSON.parse(localStorage.getItem(k) || 'null');
        if (!s || s.file !== cfg.story.file || !Array.isArray(s.actions) || !s.actions.length) continue;
        if (!found || (s.when || 0) > (found.s.when || 0)) found = { key: k, s: s };
      }
    } catch (e) { return null; }
    return found;
  }
  let earlier = earlierChanges();

  // A frame without an id ("#N", its place then) found again in this version, as `apply` finds it:
  // between the same two frames with ids, at its place among as many without one; null when it cannot be told.
  function samePlace(key, before, now) {
    const at = before.indexOf(key);
    const idOf = (k) => !k.startsWith('#');
    const after = before.slice(0, at).reverse().find(idOf) || null;
    const next = before.slice(at + 1).find(idOf) || null;
    const gap = (list) => {
      if ((after && !list.includes(after)) || (next && !list.includes(next))) return null;
      const a = after ? list.indexOf(after) + 1 : 0, b = next ? list.indexOf(next) : list.length;
      return a <= b ? list.slice(a, b).filter((k) => !idOf(k)) : null;
    };
    const was = gap(before), is = gap(now);
    return was && is && was.length === is.length ? is[was.indexOf(key)] : null;
  }

  function restoreEarlier() {
    const was = earlier.s.was || null;
    const before = Array.isArray(earlier.s.order) ? earlier.s.order : baseOrder;
    const moved = before.join('\n') !== baseOrder.join('\n');
    const left = [], lost = [];
    const kept = [];
    for (const old of earlier.s.actions) {
      let a = old;
      if (a && a.key && a.key.startsWith('#') && moved) {
        const key = samePlace(a.key, before, baseOrder);
        if (!key) { lost.push(a.key); continue; }
        a = Object.assign({}, a, { key: key });
      }
      if (!valid(a)) { if (a && a.key) left.push(a.key); continue; }
      const w = old && was ? was[old.key + '\n' + a.field] : undefined;
      if (a.type === 'set' && was && old.key + '\n' + a.field in was && !same(w, base[a.key][a.field])) {
        left.push(a.key + ' ' + a.field);
        continue;
      }
      kept.push(a);
    }
    forgetEarlier();
    actions = kept;
    state = replay(actions);
    persist();
    render();
    const n = netChanges(state).length + movedFrames(state.order).length;
    notice = 'Restored ' + plural(n, 'change', 'changes') + (left.length
      ? '; left out, as the story itself changed them since: ' + Array.from(new Set(left)).join(', ') : '') + (lost.length
      ? '; left out, as frames were added or removed around these frames without an id: ' + Array.from(new Set(lost)).join(', ') : '') + '.';
    renderBar(netChanges(state), movedFrames(state.order));
  }

  function forgetEarlier() {
    try { localStorage.removeItem(earlier.key); } catch (e) { /* nothing to forget */ }
    earlier = null;
  }
  let notice = '';  // said once in the bar, e.g. what a restore brought back
  let typing = null;  // {key, field} while a text field is being typed in: one undo step per visit
  let state = replay(actions);

  function act(a) {
    notice = '';
    const last = actions[actions.length - 1];
    if (a.type === 'set' && typing && last && last.type === 'set' && last.key === a.key && last.field === a.field &&
        typing.key === a.key && typing.field === a.field) {
      last.value = a.value;
    } else {
      actions.push(a);
    }
    state = replay(actions);
    persist();
    render();
  }

  function undo() {
    if (!actions.length) return;
    actions.pop();
    typing = null;
    state = replay(actions);
    persist();
    render(true);
  }

  // The page ------------------------------------------------------------------------------------------
  const grid = $('.frames .grid');
  const cards = new Map();
  document.querySelectorAll('article.card[data-key]').forEach((c) => cards.set(c.dataset.key, c));
  const bar = $('.editbar');
  const panel = $('.editbar-panel', bar);

  function textbox(cls, label, value, multi, onInput) {
    const t = el('textarea', { class: 'edit-text ' + cls, rows: 1, spellcheck: true, 'aria-label': label, placeholder: PLACEHOLDERS[cls] || '' });
    t.value = value || '';
    t.addEventListener('focus', () => { typing = null; });
    t.addEventListener('input', () => { onInput(t.value); typing = onInput.target; });
    t.addEventListener('blur', () => { typing = null; });
    if (!multi) t.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); t.blur(); } });
    return t;
  }

  const PLACEHOLDERS = { caption: 'Add a caption', notes: 'Add notes', line: 'Say something' };

  function textValue(v) { return v.trim() === '' ? null : v; }

  function setter(k, field, toValue) {
    const fn = (v) => act({ type: 'set', key: k, field: field, value: toValue(v) });
    fn.target = { key: k, field: field };
    return fn;
  }

  function buildCard(f) {
    const card = cards.get(f.key);
    if (!card) return;
    card.classList.add('editable');
    const meta = $('.meta', card);
    const tools = el('span', { class: 'tools' });
    if (f.id) {
      const grip = el('span', { class: 'grip', title: 'Drag to move frame ' + f.name, 'aria-hidden': 'true', text: '⠿' });
      const up = el('button', { type: 'button', class: 'tool move-earlier', 'aria-label': 'Move frame ' + f.name + ' earlier', title: 'Move earlier', text: '←' });
      const down = el('button', { type: 'button', class: 'tool move-later', 'aria-label': 'Move frame ' + f.name + ' later', title: 'Move later', text: '→' });
      up.addEventListener('click', () => moveBy(f.key, -1, up));
      down.addEventListener('click', () => moveBy(f.key, 1, down));
      grip.addEventListener('pointerdown', () => { card.draggable = true; });
      tools.append(grip, up, down);
    } else {
      tools.append(el('span', { class: 'no-move', text: 'give it an id to move it', title: 'A frame without an id cannot be moved: give it an id in the story to move it' }));
    }
    const lock = el('input', { type: 'checkbox', class: 'lock-box', 'aria-label': 'Lock frame ' + f.name });
    lock.addEventListener('change', () => act({ type: 'set', key: f.key, field: 'lock', value: lock.checked }));
    tools.append(el('label', { class: 'lock', title: 'A locked frame keeps its image when its request changes' }, [lock, el('span', { text: 'Lock' })]));
    meta.append(tools);

    const edit = el('div', { class: 'edit' });
    edit.append(textbox('caption', 'Caption of frame ' + f.name, base[f.key].caption, false, setter(f.key, 'caption', textValue)));
    edit.append(textbox('notes', 'Notes of frame ' + f.name, base[f.key].notes, true, setter(f.key, 'notes', textValue)));
    edit.append(dialogueEditor(f, card));
    $('.words', card).after(edit);
    drawDialogue(f, card, base[f.key]);

    card.querySelectorAll('.take-item').forEach((item) => {
      const raw = item.dataset.take;
      const take = /^\d+$/.test(raw) ? Number(raw) : raw;
      const t = f.takes.find((x) => String(x.take) === raw);
      if (!t || !t.src) return;
      const label = take === 'edited' ? 'Pick the edited take of frame ' + f.name : 'Pick take ' + take + ' of frame ' + f.name;
      const b = el('button', { type: 'button', class: 'take-pick', 'aria-label': label });
      b.addEventListener('click', () => act({ type: 'set', key: f.key, field: 'pick', value: take }));
      item.append(b);
    });
  }

  // Dialogue: a line's words are edited in place; a line is added (its speaker, then its words) or
  // removed with its buttons. A line left empty is no line: the changes file leaves it out.
  function dialogueEditor(f, card) {
    const list = el('ul', { class: 'dialogue edit-dialogue', 'aria-label': 'Dialogue of frame ' + f.name });
    const who = el('input', { type: 'text', class: 'edit-speaker', autocomplete: 'off', placeholder: 'Who speaks',
      'aria-label': 'Speaker of a new dialogue line in frame ' + f.name });
    who.setAttribute('list', 'sb-speakers');
    const add = el('button', { type: 'button', class: 'add-line', text: '+ Line', title: 'Add a line of dialogue',
      'aria-label': 'Add a dialogue line to frame ' + f.name });
    const addLine = () => {
      const lines = state.values[f.key].dialogue;
      const speaker = who.value.trim() || (lines.length ? lines[lines.length - 1].speaker : '');
      if (!speaker) { who.focus(); return; }
      typing = null;
      act({ type: 'set', key: f.key, field: 'dialogue', value: lines.concat([{ speaker: speaker, line: '' }]) });
      who.value = '';
      const boxes = list.querySelectorAll('.edit-text.line');
      if (boxes.length) boxes[boxes.length - 1].focus();
    };
    add.addEventListener('click', addLine);
    who.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); addLine(); } });
    // A frame without dialogue shows one quiet button; the speaker's field opens from it.
    const row = el('div', { class: 'add-dialogue' }, [who, add]);
    const open = el('button', { type: 'button', class: 'add-line open-dialogue', text: '+ Dialogue',
      title: 'Give this frame a line of dialogue', 'aria-label': 'Write dialogue for frame ' + f.name });
    open.addEventListener('click', () => { row.hidden = false; open.hidden = true; who.focus(); });
    return el('div', { class: 'edit-dialogue-box' }, [list, row, open]);
  }

  // The rows of a frame's dialogue, drawn again only when its speakers change (a line added,
  // removed, moved or given to another speaker): typing in a line keeps its field.
  function drawDialogue(f, card, v) {
    const list = $('.edit-dialogue', card);
    const shape = JSON.stringify(v.dialogue.map((d) => d.speaker));
    if (!list || list.dataset.shape === shape) return;
    list.dataset.shape = shape;
    const none = v.dialogue.length === 0;
    $('.add-dialogue', card).hidden = none;
    $('.open-dialogue', card).hidden = !none;
    const lines = () => state.values[f.key].dialogue;
    const setLines = (value, focus) => {
      typing = null;
      act({ type: 'set', key: f.key, field: 'dialogue', value: value });
      if (focus) focus();
    };
    const nth = (sel, i) => list.querySelectorAll(sel)[i];
    list.replaceChildren(...v.dialogue.map((d, i) => {
      const n = i + 1;
      const toValue = (t) => lines().map((x, j) => (j === i ? { speaker: x.speaker, line: t } : x));
      const box = textbox('line', 'Dialogue line ' + n + ' of frame ' + f.name, d.line, false, setter(f.key, 'dialogue', toValue));
      box.dataset.line = String(i);
      // Who speaks the line: another name (from the cast, or typed) gives it to them.
      const who = el('input', { type: 'text', class: 'speaker', autocomplete: 'off', spellcheck: false,
        'aria-label': 'Speaker of dialogue line ' + n + ' of frame ' + f.name });
      who.value = d.speaker;
      who.setAttribute('list', 'sb-speakers');
      who.classList.toggle('changed', (base[f.key].dialogue[i] || {}).speaker !== d.speaker);
      const rename = () => {
        const name = who.value.trim();
        const now = lines();
        if (!now[i] || !name || name === now[i].speaker) { who.value = now[i] ? now[i].speaker : ''; return; }
        const kept = document.activeElement === who;
        setLines(now.map((x, j) => (j === i ? { speaker: name, line: x.line } : x)),
          kept && (() => { const again = nth('input.speaker', i); if (again) again.focus(); }));
      };
      who.addEventListener('change', rename);
      who.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') { e.preventDefault(); rename(); }
        if (e.key === 'Escape') { who.value = lines()[i] ? lines()[i].speaker : ''; }
      });
      const move = (to, label, title) => {
        const b = el('button', { type: 'button', class: 'tool move-line', text: label, title: title,
          'aria-label': title + ': dialogue line ' + n + ' of frame ' + f.name });
        b.disabled = to < 0 || to >= v.dialogue.length;
        b.addEventListener('click', () => {
          const now = lines().slice();
          if (to < 0 || to >= now.length) return;
          [now[i], now[to]] = [now[to], now[i]];
          // a swap of two lines of one speaker keeps the rows: their words are set by drawCard
          list.dataset.shape = '';
          // the focus follows the line: its button the same way, or the other way at the end
          setLines(now, () => { const same = nth(label === '↑' ? '.move-line.earlier' : '.move-line.later', to);
            (same && !same.disabled ? same : nth(label === '↑' ? '.move-line.later' : '.move-line.earlier', to)).focus(); });
        });
        b.classList.add(label === '↑' ? 'earlier' : 'later');
        return b;
      };
      const remove = el('button', { type: 'button', class: 'tool remove-line', text: '×', title: 'Remove this line',
        'aria-label': 'Remove dialogue line ' + n + ' of frame ' + f.name });
      remove.addEventListener('click', () => {
        setLines(lines().filter((_, j) => j !== i), () => {
          const rest = list.querySelectorAll('.remove-line');
          (rest[Math.min(i, rest.length - 1)] || $('.add-line', card)).focus();
        });
      });
      return el('li', {}, [who, box, move(i - 1, '↑', 'Move earlier'), move(i + 1, '↓', 'Move later'), remove]);
    }));
  }

  function moveBy(k, delta, button) {
    const i = state.order.indexOf(k);
    const j = i + delta;
    if (j < 0 || j >= state.order.length) return;
    typing = null;
    act({ type: 'move', key: k, to: j });
    if (button) {
      // At the first or last place its button is disabled: focus stays on the card, on the other one.
      const other = $(button.classList.contains('move-earlier') ? '.move-later' : '.move-earlier', cards.get(k));
      (button.disabled && other ? other : button).focus({ preventScroll: true });
      cards.get(k).scrollIntoView({ block: 'nearest' });
    }
  }

  // Drag and drop: a card dragged by its grip lands before or after the card it is dropped on.
  let dragging = null;
  grid.addEventListener('dragstart', (e) => {
    const card = e.target.closest && e.target.closest('article.card');
    if (!card || !card.draggable) { e.preventDefault(); return; }
    dragging = card.dataset.key;
    card.classList.add('dragging');
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/plain', dragging);
  });
  function dropSide(card, e) {
    const r = card.getBoundingClientRect();
    return e.clientX < r.left + r.width / 2 ? 'before' : 'after';
  }
  function clearMarks() { grid.querySelectorAll('.drop-before, .drop-after').forEach((c) => c.classList.remove('drop-before', 'drop-after')); }
  grid.addEventListener('dragover', (e) => {
    const card = e.target.closest && e.target.closest('article.card');
    if (!dragging || !card || card.dataset.key === dragging) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    clearMarks();
    card.classList.add(dropSide(card, e) === 'before' ? 'drop-before' : 'drop-after');
  });
  grid.addEventListener('drop', (e) => {
    const card = e.target.closest && e.target.closest('article.card');
    if (!dragging || !card) return;
    e.preventDefault();
    const target = card.dataset.key;
    if (target !== dragging) {
      const order = state.order.filter((k) => k !== dragging);
      let to = order.indexOf(target) + (dropSide(card, e) === 'after' ? 1 : 0);
      if (to !== state.order.indexOf(dragging)) act({ type: 'move', key: dragging, to: to });
    }
    endDrag();
  });
  function endDrag() {
    clearMarks();
    const card = dragging && cards.get(dragging);
    if (card) { card.classList.remove('dragging'); }
    cards.forEach((c) => { c.draggable = false; });
    dragging = null;
  }
  grid.addEventListener('dragend', endDrag);
  document.addEventListener('pointerup', () => { if (!dragging) cards.forEach((c) => { c.draggable = false; }); });

  function showWords(card, v) {
    const words = $('.words', card);
    const kids = [];
    if (v.caption) kids.push(el('p', { class: 'caption', text: v.caption }));
    if (v.notes) kids.push(el('p', { class: 'notes', text: v.notes }));
    const lines = spoken(v.dialogue);
    if (lines.length) {
      kids.push(el('ul', { class: 'dialogue', 'aria-label': 'Dialogue' },
        lines.map((d) => el('li', {}, [el('span', { class: 'speaker', text: d.speaker }), document.createTextNode(' '), el('span', { class: 'line', text: d.line })]))));
    }
    words.replaceChildren(...kids);
  }

  let shownOrder = baseOrder.join('\n');
  const original = new Map();  // each card's picture as the page was written

  // Drawing touches only the cards whose values, number or marks changed since they were last drawn,
  // so typing and moving stay quick on a sheet of a thousand frames.
  const drawn = new Map();
  const sheetFrames = new Map(shared ? shared.frames.map((x) => [x.anchor, x]) : []);
  frames.forEach((f) => drawn.set(f.key, JSON.stringify([base[f.key], f.number, false])));

  function render(refocus, fromElsewhere) {
    const s = state;
    const pos = new Map(s.order.map((k, i) => [k, i]));
    const net = netChanges(s);
    const movedKeys = movedFrames(s.order);
    const changedFrames = new Set(net.map((c) => c.frame).concat(movedKeys));
    for (const f of frames) {
      const v = s.values[f.key];
      const n = pos.get(f.key) + 1;
      const sig = JSON.stringify([v, n, changedFrames.has(f.key)]);
      if (sig === drawn.get(f.key) && !fromElsewhere) continue;
      drawn.set(f.key, sig);
      if (cards.has(f.key)) drawCard(f, cards.get(f.key), v, n, changedFrames.has(f.key), fromElsewhere);
    }
    const order = s.order.join('\n');
    if (order !== shownOrder) {
      placeCards(shownOrder.split('\n'), s.order);
      shownOrder = order;
      if (shared && shared.reorder) shared.reorder(s.order.map((k) => cards.get(k).id));
    }
    renderBar(net, movedKeys);
    if (refocus && document.activeElement === document.body) $('.editbar-undo', bar).focus({ preventScroll: true });
  }

  function drawCard(f, card, v, n, changed, fromElsewhere) {
    const num = $('.num', card);
    num.textContent = pad(n);
    let was = $('.was', card);
    if (n !== f.number) {
      if (!was) { was = el('span', { class: 'was' }); num.after(was); }
      was.textContent = 'was ' + pad(f.number);
    } else if (was) was.remove();
    card.classList.toggle('has-changes', changed);
    drawDialogue(f, card, v);
    card.querySelectorAll('.edit-text').forEach((t) => {
      let value, before;
      if (t.classList.contains('caption')) { value = v.caption; before = base[f.key].caption; }
      else if (t.classList.contains('notes')) { value = v.notes; before = base[f.key].notes; }
      else {
        const i = Number(t.dataset.line);
        value = v.dialogue[i] ? v.dialogue[i].line : '';
        before = (base[f.key].dialogue[i] || {}).line;
      }
      // The field being typed in keeps its text, unless the change comes from another tab.
      if ((fromElsewhere || document.activeElement !== t) && (t.value || null) !== (value || null)) t.value = value || '';
      t.classList.toggle('changed', !same(value || null, before || null));
    });
    showWords(card, v);
    const lock = $('.lock-box', card);
    if (lock) { lock.checked = Boolean(v.lock); lock.closest('.lock').classList.toggle('changed', v.lock !== base[f.key].lock); }
    card.classList.toggle('is-locked', Boolean(v.lock));
    const up = $('.move-earlier', card), down = $('.move-later', card);
    if (up) { up.disabled = n === 1; down.disabled = n === frames.length; }
    // The picked take is the frame's picture.
    card.querySelectorAll('.take-item').forEach((item) => {
      const picked = String(v.pick) === item.dataset.take;
      const a = $('.take', item);
      if (a) a.classList.toggle('picked', picked);
      const b = $('.take-pick', item);
      if (b) { b.setAttribute('aria-pressed', String(picked)); b.textContent = picked ? 'Picked' : 'Pick'; }
      const lbl = $('.take-label', item);
      if (lbl && lbl.firstChild) lbl.firstChild.textContent = item.dataset.take + ' ';  // the button says which is picked
    });
    // The picture: the picked take's, or the frame file as the run left it.
    const img = $('.shot img', card);
    const sf = sheetFrames.get(card.id);
    if (!original.has(f.key)) {
      original.set(f.key, { img: img && img.getAttribute('src'), full: img && img.dataset.full, src: sf && sf.src, thumb: sf && sf.thumb });
    }
    const o = original.get(f.key);
    const t = same(v.pick, base[f.key].pick) ? null : f.takes.find((x) => String(x.take) === String(v.pick));
    const want = t && t.src ? { img: t.thumb || t.src, full: t.src, src: t.src, thumb: t.thumb } : o;
    if (img && want.img && img.getAttribute('src') !== want.img) {
      img.src = want.img;
      if (want.full) img.dataset.full = want.full; else delete img.dataset.full;
    }
    if (sf) {
      sf.caption = v.caption; sf.notes = v.notes; sf.label = pad(n);
      sf.src = want.src; sf.thumb = want.thumb;
    }
  }

  // Cards move in the page with as few DOM moves as it takes (usually one): those outside the
  // longest run already in order go before their new next card. Printing regroups them six to a page.
  function placeCards(from, to) {
    const moved = new Set(movedFrames(to, new Map(from.map((k, i) => [k, i]))));
    for (let i = to.length - 1; i >= 0; i--) {
      const k = to[i];
      if (!moved.has(k)) continue;
      const node = cards.get(k);
      if (i + 1 < to.length) cards.get(to[i + 1]).before(node);
      else lastPage().appendChild(node);
    }
  }
  const pages = () => Array.from(grid.querySelectorAll(':scope > .page'));
  const lastPage = () => { const p = pages(); return p[p.length - 1]; };
  window.addEventListener('beforeprint', () => {
    const p = pages();
    state.order.forEach((k, i) => (p[Math.floor(i / 6)] || p[p.length - 1]).appendChild(cards.get(k)));
  });

  function fileChanges(net) {
    const changes = net.map((c) => ({ frame: c.frame, field: c.field, before: c.before, after: c.after }));
    return changes;
  }

  function renderBar(net, movedKeys) {
    const count = net.length + movedKeys.length;
    bar.hidden = !actions.length && !earlier && !notice;
    const back = $('.editbar-earlier', bar);
    back.hidden = !earlier;
    if (earlier) {
      const n = earlier.s.actions.filter((a) => a && a.type !== 'reset').length;
      $('.editbar-earlier-text', bar).textContent = plural(n, 'unsaved change', 'unsaved changes') +
        ' from an earlier version of this story (edited since) ' + (n === 1 ? 'is' : 'are') + ' kept in this browser.';
    }
    $('.editbar-notice', bar).textContent = notice;
    document.body.classList.toggle('has-editbar', !bar.hidden);
    const isSaved = savedNet !== null && savedNet === JSON.stringify([net, state.order]);
    const words = plural(count, 'unsaved change', 'unsaved changes');
    $('.editbar-count', bar).textContent = count === 0 ? (earlier && !actions.length ? '' : 'No unsaved changes')
      : isSaved ? plural(count, 'change', 'changes') + ' saved to ' + cfg.changes_file + ' (not yet applied)' : words;
    $('.editbar-undo', bar).disabled = !actions.length;
    $('.editbar-discard', bar).disabled = count === 0;
    $('.editbar-save', bar).disabled = count === 0;
    // What each change re-runs: worked out only while the list is open (a change at a time).
    const list = $('.editbar-list', bar);
    if (!panel.hidden) {
      const items = net.map((c) => el('li', { text: describe(c) }));
      if (movedKeys.length) items.push(el('li', { text: describe({ field: 'order' }) }));
      list.replaceChildren(...items);
    }
    const all = affected(state);
    const c = costOf(all);
    $('.editbar-total', bar).textContent = count === 0 ? '' : all.length
      ? 'A run after apply re-runs ' + plural(all.length, 'frame', 'frames') + ' (' + names(all) + '): ' + plural(c.requests, 'request', 'requests') + ', ' + money(c.total) + '.'
      : 'A run after apply sends nothing.';
    $('.editbar-cmd', bar).textContent = 'storyboard apply ' + (cfg.story.file || 'STORY.yaml') + ' ' + cfg.changes_file;
  }

  function save() {
    const net = netChanges(state);
    const doc = {
      format: 'storyboard-changes',
      version: 1,
      story: cfg.story,
      saved: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      changes: fileChanges(net),
      order: { before: baseOrder, after: state.order },
    };
    const blob = new Blob([JSON.stringify(doc, null, 1) + '\n'], { type: 'application/json' });
    const a = el('a', { href: URL.createObjectURL(blob), download: cfg.changes_file });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    savedNet = JSON.stringify([net, state.order]);
    persist();
    render();
  }

  $('.editbar-restore', bar).addEventListener('click', restoreEarlier);
  $('.editbar-forget', bar).addEventListener('click', () => { forgetEarlier(); notice = ''; render(); });
  $('.editbar-undo', bar).addEventListener('click', undo);
  $('.editbar-discard', bar).addEventListener('click', () => { typing = null; act({ type: 'reset' }); });
  $('.editbar-save', bar).addEventListener('click', save);
  $('.editbar-toggle', bar).addEventListener('click', (e) => {
    panel.hidden = !panel.hidden;
    e.currentTarget.setAttribute('aria-expanded', String(!panel.hidden));
    e.currentTarget.textContent = panel.hidden ? 'Show changes' : 'Hide changes';
    renderBar(netChanges(state), movedFrames(state.order));
  });
  document.addEventListener('keydown', (e) => {
    const inText = e.target.closest && e.target.closest('textarea, input[type="text"]');
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === 'z' && !inText) { e.preventDefault(); undo(); }
  });
  // Another tab of the same sheet changed something: show it here too. The storage event says so at
  // once; coming back to this tab checks again (a browser may drop the event for a background tab).
  function fromElsewhere() {
    const now = stored();
    if (now === seen) return;
    seen = now;
    ({ actions, saved: savedNet } = parse(now));
    state = replay(actions);
    typing = null;
    render(false, true);
  }
  window.addEventListener('storage', (e) => { if (e.key === cfg.storage) fromElsewhere(); });
  window.addEventListener('focus', fromElsewhere);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) fromElsewhere(); });

  // The speakers a new line may have: the cast, and whoever speaks somewhere in the story.
  const speakers = el('datalist', { id: 'sb-speakers' });
  (cfg.speakers || []).forEach((name) => speakers.append(el('option', { value: name })));
  document.body.append(speakers);
  frames.forEach(buildCard);
  document.body.classList.add('editing');
  render();
})();
