/* The contact sheet's behaviour: lightbox, URL hashes, play view (editing: editor.js). Inlined into index.html.
   User text only ever reaches the page through textContent, never as markup. */
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('sb-data').textContent);
  const frames = data.frames;
  const byAnchor = new Map();
  const byId = new Map();
  function index() {
    byAnchor.clear();
    byId.clear();
    frames.forEach((f, i) => {
      byAnchor.set(f.anchor, i);
      if (f.id && !byId.has(f.id)) byId.set(f.id, i);
    });
  }
  index();
  // The editor (editor.js) shows its changes in the lightbox too: new captions, picks and order.
  window.storyboardSheet = {
    frames: frames,
    reorder(anchors) {
      const pos = new Map(anchors.map((a, i) => [a, i]));
      frames.sort((a, b) => (pos.get(a.anchor) ?? 0) - (pos.get(b.anchor) ?? 0));
      index();
    },
  };
  const $ = (sel, root) => (root || document).querySelector(sel);

  // "#f03" (padded or not) first, then a frame id: links from the sheet use the former.
  function frameFromHash(token) {
    if (byAnchor.has(token)) return byAnchor.get(token);
    const m = /^f0*(\d+)$/.exec(token);
    if (m) {
      const i = frames.findIndex((f) => f.number === Number(m[1]));
      if (i >= 0) return i;
    }
    return byId.has(token) ? byId.get(token) : -1;
  }

  function currentHash() {
    try { return decodeURIComponent(location.hash.slice(1)); } catch (e) { return location.hash.slice(1); }
  }

  // Dropping the hash without a jump to the top of the page.
  function clearHash() {
    if (!location.hash) return;
    try { history.replaceState(null, '', location.pathname + location.search); }
    catch (e) { location.hash = ''; }
  }

  // Lightbox --------------------------------------------------------------------------------
  const lb = $('.lb');
  const lbImg = $('.lb-img', lb);
  const lbEmpty = $('.lb-empty', lb);
  const lbPrev = $('.lb-prev', lb);
  const lbNext = $('.lb-next', lb);
  const lbClose = $('.lb-close', lb);
  // mode 'frame': the story's frames, addressed by URL hash; 'list': takes or cast images.
  let state = null;
  let loadToken = 0;
  let returnFocus = null;

  function setImage(img, full, thumb) {
    const token = ++loadToken;
    if (!full) { img.hidden = true; img.removeAttribute('src'); return; }
    img.hidden = false;
    // The thumbnail shows at once; the full frame replaces it when it has arrived.
    img.src = thumb || full;
    if (thumb && thumb !== full) {
      const pre = new Image();
      pre.onload = () => { if (token === loadToken) img.src = full; };
      pre.src = full;
    }
  }

  function preload(item) { if (item && item.src) { const p = new Image(); p.src = item.src; } }

  function renderLightbox() {
    const item = state.items[state.index];
    setImage(lbImg, item.src, item.thumb);
    lbImg.alt = item.caption || item.title || '';
    lbEmpty.hidden = Boolean(item.src);
    lbEmpty.textContent = item.src ? '' : [item.status, item.reason, item.message].filter(Boolean).join(' · ') || 'No image';
    $('.lb-num', lb).textContent = item.label || '';
    $('.lb-id', lb).textContent = item.id || item.title || '';
    $('.lb-caption', lb).textContent = item.caption || '';
    $('.lb-notes', lb).textContent = item.notes || '';
    $('.lb-count', lb).textContent = state.items.length > 1 ? (state.index + 1) + ' / ' + state.items.length : '';
    lbPrev.disabled = state.index === 0;
    lbNext.disabled = state.index === state.items.length - 1;
    lbPrev.hidden = lbNext.hidden = state.items.length < 2;
    preload(state.items[state.index + 1]);
    preload(state.items[state.index - 1]);
  }

  function openLightbox(mode, items, index) {
    const wasOpen = !lb.hidden;
    state = { mode: mode, items: items, index: index };
    renderLightbox();
    if (!wasOpen) {
      returnFocus = document.activeElement;
      lb.hidden = false;
      document.documentElement.classList.add('lb-open');
      lbClose.focus({ preventScroll: true });
    }
  }

  function closeLightbox(updateUrl) {
    if (lb.hidden) return;
    const last = state;
    lb.hidden = true;
    state = null;
    loadToken++;
    document.documentElement.classList.remove('lb-open');
    if (updateUrl && last.mode === 'frame') clearHash();
    let target = returnFocus;
    if (last.mode === 'frame') {
      const card = document.getElementById(last.items[last.index].anchor);
      if (card) { card.scrollIntoView({ block: 'nearest' }); target = $('.shot', card); }
    }
    if (target && target.focus) target.focus({ preventScroll: true });
  }

  function step(delta) {
    if (!state) return;
    const j = state.index + delta;
    if (j < 0 || j >= state.items.length) return;
    if (state.mode === 'frame') {
      location.replace('#' + frames[j].anchor);  // one history entry per visit, not per key press
    } else {
      state.index = j;
      renderLightbox();
    }
  }

  lbPrev.addEventListener('click', () => step(-1));
  lbNext.addEventListener('click', () => step(1));
  lbClose.addEventListener('click', () => closeLightbox(true));
  lb.addEventListener('click', (e) => {
    if (e.target === lb || e.target.classList.contains('lb-stage')) closeLightbox(true);
  });
  let touchX = null;
  lb.addEventListener('touchstart', (e) => { touchX = e.touches[0].clientX; }, { passive: true });
  lb.addEventListener('touchend', (e) => {
    if (touchX === null) return;
    const dx = e.changedTouches[0].clientX - touchX;
    touchX = null;
    if (Math.abs(dx) > 50) step(dx < 0 ? 1 : -1);
  });

  document.addEventListener('keydown', (e) => {
    if (lb.hidden || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === 'ArrowRight') { e.preventDefault(); step(1); }
    else if (e.key === 'ArrowLeft') { e.preventDefault(); step(-1); }
    else if (e.key === 'Escape') { e.preventDefault(); closeLightbox(true); }
    else if (e.key === 'Tab') {
      // Keep focus inside the dialog while it is open.
      const stops = [lbClose, lbPrev, lbNext].filter((b) => !b.hidden && !b.disabled);
      const i = stops.indexOf(document.activeElement);
      e.preventDefault();
      stops[(i + (e.shiftKey ? stops.length - 1 : 1)) % stops.length].focus();
    }
  });

  // Takes, references and cast sheets open as a small list of their own, without a hash.
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[data-view-image]');
    if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    const group = a.closest('[data-image-group]');
    const links = group ? Array.from(group.querySelectorAll('a[data-view-image]')) : [a];
    const items = links.map((l) => ({ src: l.getAttribute('href'), thumb: l.dataset.thumb, title: l.dataset.title }));
    openLightbox('list', items, Math.max(0, links.indexOf(a)));
  });

  // A missing thumbnail falls back to the full image rather than a broken icon.
  document.addEventListener('error', (e) => {
    const img = e.target;
    if (img.tagName === 'IMG' && img.dataset.full && img.getAttribute('src') !== img.dataset.full) {
      img.src = img.dataset.full;
    }
  }, true);

  // Lazy images below the fold would print as blanks.
  window.addEventListener('beforeprint', () => {
    document.querySelectorAll('img[loading="lazy"]').forEach((img) => { img.loading = 'eager'; });
  });

  // Views and the play mode ---------------------------------------------------------------------
  const play = $('.play');
  const navLinks = document.querySelectorAll('.views a');

  function showView(view) {
    document.querySelectorAll('[data-view]').forEach((el) => { el.hidden = el.dataset.view !== view; });
    navLinks.forEach((a) => {
      if (a.dataset.nav === view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    });
  }

  const token = (i) => frames[i].id || frames[i].anchor;

  function parsePath(hash) {
    const parts = hash.startsWith('play=') ? hash.slice(5).split(',').filter(Boolean) : [];
    const path = [];
    for (const p of parts) {
      const i = byId.has(p) ? byId.get(p) : (byAnchor.has(p) ? byAnchor.get(p) : -1);
      if (i < 0) break;  // a path from an older version of the story: keep what still exists
      path.push(i);
    }
    return path.length ? path : [0];
  }

  function goPlay(path) { location.hash = 'play=' + path.map(token).join(','); }

  function renderPlay(hash) {
    const path = parsePath(hash);
    const f = frames[path[path.length - 1]];
    const img = $('.play-img', play);
    const empty = $('.play-empty', play);
    setImage(img, f.src, f.thumb);
    img.alt = f.caption || '';
    empty.hidden = Boolean(f.src);
    empty.textContent = f.src ? '' : [f.status, f.reason, f.message].filter(Boolean).join(' · ');
    $('.play-num', play).textContent = f.label;
    $('.play-id', play).textContent = f.id || '';
    $('.play-text', play).textContent = f.text || f.caption || '';
    const box = $('.play-choices', play);
    box.replaceChildren();
    for (const c of f.choices) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'btn choice';
      b.textContent = c.label || c.goto;
      const j = byId.has(c.goto) ? byId.get(c.goto) : -1;
      if (j < 0) { b.disabled = true; b.title = 'No frame with id ' + c.goto; }
      else b.addEventListener('click', () => goPlay(path.concat(j)));
      box.appendChild(b);
    }
    $('.play-end', play).hidden = f.choices.length > 0;
    $('.play-restart', play).classList.toggle('choice', f.choices.length === 0);
    $('.play-back', play).disabled = path.length < 2;
    $('.play-path', play).textContent = path.map((i) => frames[i].label + (frames[i].id ? ' ' + frames[i].id : '')).join('  →  ');
    play.dataset.frame = f.anchor;
    // The pressed button is gone: focus the new frame, so Tab leads on to its choices.
    if (play.contains(document.activeElement) || document.activeElement === document.body) {
      $('.play-frame', play).focus({ preventScroll: true });
    }
  }

  if (play) {
    $('.play-back', play).addEventListener('click', () => {
      const path = parsePath(currentHash());
      if (path.length > 1) goPlay(path.slice(0, -1));
    });
    $('.play-restart', play).addEventListener('click', () => goPlay([0]));
  }

  document.querySelectorAll('a[data-nav="grid"]').forEach((a) => a.addEventListener('click', (e) => {
    e.preventDefault();
    try { history.pushState(null, '', location.pathname + location.search); } catch (err) { /* file:// quirks */ }
    route();
    window.scrollTo(0, 0);
  }));

  function route() {
    const hash = currentHash();
    if (play && frames.length && (hash === 'play' || hash.startsWith('play='))) {
      closeLightbox(false);
      const entering = play.hidden;
      showView('play');
      renderPlay(hash);
      if (entering) window.scrollTo(0, 0);
      // Each step starts at the top of its picture, not wherever the last choice button was.
      else if (window.scrollY > play.offsetTop) play.scrollIntoView({ block: 'start' });
      return;
    }
    const fromPlay = play && !play.hidden;
    showView('grid');
    const i = hash ? frameFromHash(hash) : -1;
    if (i >= 0) openLightbox('frame', frames, i);
    else if (state && state.mode === 'frame') closeLightbox(false);
    // The browser could not scroll to a section while the play view hid it.
    const section = i < 0 && hash && fromPlay ? document.getElementById(hash) : null;
    if (section) section.scrollIntoView();
  }

  window.addEventListener('hashchange', route);
  route();
})();
