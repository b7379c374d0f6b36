/*
 * LiveInsight tracker, readable source (ES2020). The served file is script.js, built from this
 * one by scripts/build-tracker.sh (terser), which records both files' sha256 in build.json so a
 * test catches a stale build. Budget: 1536 bytes gzipped, checked by tests/api/test_tracker.py.
 * Behaviour follows Plausible's script: bodies are Plausible-compatible
 * ({n,u,d,r,p,h,revenue,i,e,sd}) and sent as text/plain JSON with fetch keepalive, so they
 * survive the page being left and need no CORS preflight. Documented in docs/tracker.md.
 */
(() => {
  const w = window
  const doc = document
  const loc = location
  const script = doc.currentScript
  const on = (target, types, listener) =>
    types.split(' ').forEach((type) => target.addEventListener(type, listener))
  if (w.liveinsight?.l) return // loaded twice
  const attr = (name) => script.getAttribute('data-' + name)
  // Plausible-style file names (script.hash.local.js) set these attributes: see api/tracker.py.
  const flag = (name) => attr(name) != null

  const endpoint = attr('api') || new URL('/api/event', script.src) // fetch takes a URL
  const domain = attr('domain') || loc.hostname
  let user = attr('user-id') || undefined // the user_id property (undefined: left out); see identify
  const hashMode = flag('hash') || undefined // undefined: left out of the JSON body
  const allowLocal = flag('allow-local')
  const fileTypes = (
    attr('file-types') ||
    'pdf,xlsx,docx,txt,rtf,csv,exe,key,pps,ppt,pptx,7z,pkg,rar,gz,zip,avi,mov,mp4,mpeg,wmv,midi,mp3,wav,wma,dmg'
  ).split(',')

  const ignored = () => {
    try {
      if (localStorage.liveinsight_ignore == 'true') return 1
    } catch {
      // storage blocked: nothing says the visitor opted out
    }
    return !allowLocal && (
      /^(localhost|127\.|\[::1?\])/.test(loc.hostname) || loc.protocol == 'file:' ||
      navigator.webdriver
    )
  }

  const send = (body, callback) =>
    fetch(endpoint, {
      method: 'POST', // a string body goes as text/plain: no CORS preflight
      keepalive: true,
      body: JSON.stringify(body)
    }).then(
      (response) => callback?.({ status: response.status }),
      (error) => callback?.({ error })
    )

  /* Engagement: time the page was visible and focused, and how far down it was seen. */
  let page // the current pageview's body; unset while no pageview counts
  let engagedMs = 0
  let runningSince = 0 // when the page last became visible and focused; 0 or false while it is not
  let seenPx = 0
  let sentPx = -1

  const docHeight = () => doc.documentElement.scrollHeight
  const onScroll = () => {
    seenPx = Math.max(seenPx, Math.min(docHeight(), scrollY + innerHeight))
  }
  // Sends only news: a deeper scroll than last sent, or 3 s more engaged time.
  const hidden = () => {
    engagedMs += runningSince && Date.now() - runningSince
    runningSince = 0
    if (page && !ignored() && (sentPx < seenPx || engagedMs >= 3000)) {
      sentPx = seenPx
      send({
        ...page, n: 'engagement', i: false, e: engagedMs,
        sd: Math.round(seenPx / docHeight() * 100) // over 100 when the page shrank: clamped by the collector
      })
      engagedMs = 0
    }
  }

  const track = (name, options = {}) => {
    const isPageview = name == 'pageview'
    if (isPageview) hidden() // an SPA leaves the previous page
    if (ignored()) {
      if (isPageview) page = 0
      return options.callback?.()
    }
    const body = {
      n: name, u: options.u || loc.href, d: domain, r: doc.referrer,
      p: { user_id: user, ...options.props }, // undefined: left out; null: dropped by the collector
      revenue: options.revenue, h: hashMode, i: options.interactive // false: not a bounce-breaker
    }
    if (isPageview) {
      page = body
      engagedMs = seenPx = 0
      sentPx = -1
      runningSince = !doc.hidden && Date.now() // opened in a background tab: not yet engaged
      onScroll()
    }
    send(body, options.callback)
  }

  /* Automatic pageviews: on load, on history navigation, on hash changes in hash mode. */
  let lastPage
  const pageview = () => {
    const key = loc.pathname + (hashMode ? loc.hash : '')
    if (key != lastPage) {
      lastPage = key
      track('pageview')
    }
  }

  /* Tagged elements: classes liveinsight-event-name=Signup, liveinsight-event-<prop>=<value>,
     liveinsight-revenue-amount=9.5 liveinsight-revenue-currency=EUR ("--" may stand for "=",
     "+" for a space; the plausible- prefix works too). */
  const tagOf = (el) => {
    const tag = { p: {}, r: {} }
    for (const name of el.classList || []) {
      const m = name.match(/^(liveinsight|plausible)-(event|revenue)-(.+?)(=|--)(.+)$/)
      if (m) {
        const value = m[5].replace(/\+/g, ' ')
        if (m[2] == 'revenue') tag.r[m[3]] = value
        else if (m[3] == 'name') tag.n = value
        else tag.p[m[3]] = value
      }
    }
    return tag
  }
  const trackTag = (tag) => track(tag.n, { props: tag.p, revenue: tag.r.currency && tag.r })

  on(doc, 'click auxclick', (event) => {
    if (event.button > 1) return // auxclick: only the middle button opens links
    let el = event.target
    let link, tagged, tag
    for (let depth = 0; el && el.tagName; el = el.parentNode, depth++) {
      if (el.tagName == 'FORM') depth = 9 // a form counts its submissions, not clicks inside it
      if (!link && el.tagName == 'A' && el.href) link = el
      if (!tagged && depth < 4 && (tag = tagOf(el)).n) tagged = el
    }
    if (tagged) {
      if (link) tag.p.url = link.href
      trackTag(tag)
    } else if (link) {
      const url = link.href.split(/[?#]/)[0]
      if (link.host && link.host != loc.host) {
        track('Outbound Link: Click', { props: { url: link.href } })
      } else if (fileTypes.includes(url.split('.').pop().toLowerCase())) {
        track('File Download', { props: { url } })
      }
    }
  })
  on(doc, 'submit', (event) => {
    const tag = tagOf(event.target)
    if (tag.n) trackTag(tag)
  })
  on(doc, 'scroll', onScroll)
  on(w, 'blur focus visibilitychange', () => {
    if (!doc.hidden && doc.hasFocus()) runningSince = runningSince || Date.now()
    else hidden()
  })
  on(w, 'pagehide', hidden) // may come before visibilitychange, or alone

  /* The JS API, with the calls queued before the script loaded. */
  const queue = [...w.liveinsight?.q || [], ...w.plausible?.q || []]
  track.l = 1
  track.identify = (id) => (user = id) // null: no id from now on
  w.liveinsight = w.plausible = track

  if (!flag('manual')) {
    const history = w.history
    const pushState = history.pushState
    history.pushState = function () {
      pushState.apply(this, arguments)
      pageview()
    }
    on(w, 'popstate', pageview)
    if (hashMode) on(w, 'hashchange', pageview)
    on(w, 'pageshow', (event) => {
      if (event.persisted) { // back from the bfcache: a new visit to the page
        lastPage = 0
        pageview()
      }
    })
    pageview()
  }
  if (flag('404')) track('404', { props: { path: loc.pathname } })
  queue.forEach((args) => track(...args))
})()
