"""What the demo traffic is made of: the demo sites, their pages and events, and the mix of
sources, places and devices visitors come with. Pure data, read by ``demo.generate``.

Weights are relative within each list. Names follow what the enrichment pipeline stores:
ISO country codes, region and city names, device classes ``Desktop``/``Mobile``/``Tablet``,
browser and OS names as its user-agent step writes them. A source is given as the referrer
URL and UTM tags a browser would send; ``demo.generate`` derives the stored referrer, source name
and channel from them with the pipeline's own rules (the names here are for reading).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# (referrer, referrer_source, channel, utm_source, utm_medium, utm_campaign, utm_content,
#  utm_term, weight)
Source = tuple[str, str, str, str, str, str, str, str, float]
# (country_code, region, city, weight)
Place = tuple[str, str, str, float]
# (device, browser, browser_version, os, os_version, screen, weight)
Tech = tuple[str, str, str, str, str, str, float]
# (event name, props choices, weight, revenue choices)
CustomEvent = tuple[str, list[dict[str, str]], float, list[str]]


@dataclass(frozen=True)
class DemoSite:
    domain: str
    name: str
    timezone: str
    visitors_per_day: int
    weekend_factor: float
    bounce_rate: float
    pages: list[tuple[str, float]]
    flows: dict[str, list[tuple[str, float]]]
    sources: list[Source]
    events: dict[str, list[CustomEvent]]  # page → events that may fire on it
    goals: list[tuple[str | None, str | None]] = field(default_factory=list)
    spike_day: int | None = None  # days ago a post went viral
    spike_source: Source | None = None


_GENERIC_SOURCES: list[Source] = [
    ("", "", "Direct", "", "", "", "", "", 30),
    ("https://www.google.com/", "Google", "Organic Search", "", "", "", "", "", 28),
    ("https://www.bing.com/", "Bing", "Organic Search", "", "", "", "", "", 4),
    ("https://duckduckgo.com/", "DuckDuckGo", "Organic Search", "", "", "", "", "", 4),
    ("https://search.brave.com/", "Brave", "Organic Search", "", "", "", "", "", 1),
    ("https://www.ecosia.org/", "Ecosia", "Organic Search", "", "", "", "", "", 1),
    ("https://t.co/", "Twitter", "Organic Social", "", "", "", "", "", 4),
    ("https://www.reddit.com/", "Reddit", "Organic Social", "", "", "", "", "", 4),
    ("https://www.linkedin.com/", "LinkedIn", "Organic Social", "", "", "", "", "", 2),
    ("https://mastodon.social/", "Mastodon", "Organic Social", "", "", "", "", "", 1),
    ("https://news.ycombinator.com/", "Hacker News", "Referral", "", "", "", "", "", 3),
    ("https://github.com/", "GitHub", "Referral", "", "", "", "", "", 3),
    ("https://www.youtube.com/", "Youtube", "Organic Video", "", "", "", "", "", 1),
    ("https://chatgpt.com/", "ChatGPT", "Referral", "", "", "", "", "", 2),
]

SAAS = DemoSite(
    domain="demo.liveinsight.dev",
    name="LiveInsight demo",
    timezone="Europe/Berlin",
    visitors_per_day=1900,
    weekend_factor=0.62,
    bounce_rate=0.45,
    pages=[
        ("/", 30), ("/pricing", 10), ("/features", 8), ("/docs", 7),
        ("/docs/getting-started", 6), ("/docs/api", 4), ("/docs/self-hosting", 5),
        ("/docs/tracker", 3), ("/blog", 4), ("/blog/cookieless-analytics", 6),
        ("/blog/clickhouse-at-scale", 5), ("/blog/plausible-vs-umami-vs-liveinsight", 4),
        ("/about", 2), ("/contact", 1), ("/signup", 4), ("/login", 3), ("/changelog", 2),
    ],
    flows={
        "/": [("/pricing", 4), ("/features", 3), ("/docs", 2), ("/signup", 1), ("/blog", 1)],
        "/features": [("/pricing", 4), ("/signup", 2), ("/docs", 1)],
        "/pricing": [("/signup", 4), ("/features", 1), ("/contact", 1)],
        "/docs": [("/docs/getting-started", 4), ("/docs/api", 2), ("/docs/self-hosting", 3)],
        "/docs/getting-started": [("/docs/tracker", 3), ("/docs/self-hosting", 2)],
        "/blog": [("/blog/cookieless-analytics", 3), ("/blog/clickhouse-at-scale", 2)],
        "/signup": [("/docs/getting-started", 2)],
    },
    sources=[
        *_GENERIC_SOURCES,
        ("https://www.producthunt.com/", "Product Hunt", "Referral", "", "", "", "", "", 2),
        ("https://www.google.com/", "Google", "Paid Search", "google", "cpc",
         "brand-search", "ad-1", "web analytics", 4),
        ("https://www.google.com/", "Google", "Paid Search", "google", "cpc",
         "competitor-search", "ad-2", "plausible alternative", 2),
        ("", "newsletter", "Email", "newsletter", "email", "launch-week", "", "", 3),
        ("https://www.linkedin.com/", "LinkedIn", "Paid Social", "linkedin", "paid_social",
         "launch-week", "carousel", "", 2),
    ],
    events={
        "/signup": [("Signup", [{"plan": "free"}, {"plan": "free"}, {"plan": "team"},
                                {"plan": "business"}], 0.35, [])],
        "/pricing": [("Purchase", [{"plan": "team", "interval": "monthly"},
                                   {"plan": "team", "interval": "yearly"},
                                   {"plan": "business", "interval": "monthly"}], 0.04,
                      ["19.00", "190.00", "79.00"]),
                     ("Outbound Link: Click", [{"url": "https://github.com/liveinsight"}],
                      0.05, [])],
        "/docs/self-hosting": [("File Download", [{"url": "/downloads/docker-compose.yml"},
                                                  {"url": "/downloads/liveinsight.tar.gz"}],
                                0.18, [])],
        "/docs/api": [("Outbound Link: Click", [{"url": "https://clickhouse.com/docs"},
                                                {"url": "https://plausible.io/docs/stats-api"}],
                       0.12, [])],
        "*": [("404", [{"path": "/old-pricing"}, {"path": "/wp-login.php"}], 0.004, [])],
    },
    goals=[("Signup", None), ("Purchase", None), ("File Download", None), (None, "/pricing")],
    spike_day=9,
    spike_source=("https://news.ycombinator.com/", "Hacker News", "Referral",
                  "", "", "", "", "", 1),
)

SHOP = DemoSite(
    domain="shop.example",
    name="Example Shop",
    timezone="America/New_York",
    visitors_per_day=1100,
    weekend_factor=1.18,
    bounce_rate=0.38,
    pages=[
        ("/", 25), ("/collections/shoes", 10), ("/collections/bags", 7),
        ("/collections/sale", 8), ("/products/trail-runner-2", 6), ("/products/city-sneaker", 5),
        ("/products/canvas-tote", 4), ("/products/leather-backpack", 4),
        ("/products/wool-socks", 3), ("/search", 4), ("/cart", 5), ("/checkout", 3),
        ("/checkout/thank-you", 1), ("/account", 2), ("/pages/shipping", 1),
    ],
    flows={
        "/": [("/collections/shoes", 4), ("/collections/sale", 3), ("/collections/bags", 2),
              ("/search", 1)],
        "/collections/shoes": [("/products/trail-runner-2", 4), ("/products/city-sneaker", 3)],
        "/collections/bags": [("/products/canvas-tote", 3), ("/products/leather-backpack", 3)],
        "/collections/sale": [("/products/wool-socks", 2), ("/products/city-sneaker", 2)],
        "/products/trail-runner-2": [("/cart", 3), ("/collections/shoes", 2)],
        "/products/city-sneaker": [("/cart", 3), ("/collections/shoes", 2)],
        "/products/canvas-tote": [("/cart", 3), ("/collections/bags", 2)],
        "/products/leather-backpack": [("/cart", 3), ("/collections/bags", 2)],
        "/products/wool-socks": [("/cart", 3), ("/collections/sale", 1)],
        "/cart": [("/checkout", 5), ("/", 1)],
        "/checkout": [("/checkout/thank-you", 4), ("/cart", 1)],
    },
    sources=[
        *_GENERIC_SOURCES,
        ("https://www.instagram.com/", "Instagram", "Organic Social", "", "", "", "", "", 5),
        ("https://www.pinterest.com/", "Pinterest", "Organic Social", "", "", "", "", "", 3),
        ("https://www.facebook.com/", "Facebook", "Paid Social", "facebook", "paid_social",
         "winter-sale", "video-15s", "", 6),
        ("https://www.google.com/", "Google", "Paid Search", "google", "cpc", "winter-sale",
         "shoes", "running shoes", 5),
        ("", "newsletter", "Email", "newsletter", "email", "black-friday", "hero", "", 4),
        ("https://www.google.com/", "Google", "Organic Shopping", "google", "shopping",
         "", "", "", 2),
    ],
    events={
        "/products/trail-runner-2": [("Add to Cart", [{"product": "Trail Runner 2",
                                                       "category": "Shoes"}], 0.22, [])],
        "/products/city-sneaker": [("Add to Cart", [{"product": "City Sneaker",
                                                     "category": "Shoes"}], 0.2, [])],
        "/products/canvas-tote": [("Add to Cart", [{"product": "Canvas Tote",
                                                    "category": "Bags"}], 0.18, [])],
        "/products/leather-backpack": [("Add to Cart", [{"product": "Leather Backpack",
                                                         "category": "Bags"}], 0.15, [])],
        "/products/wool-socks": [("Add to Cart", [{"product": "Wool Socks",
                                                   "category": "Accessories"}], 0.3, [])],
        "/checkout": [("Begin Checkout", [{"payment": "card"}, {"payment": "paypal"},
                                          {"payment": "apple_pay"}], 0.9, [])],
        "/checkout/thank-you": [("Purchase", [{"category": "Shoes"}, {"category": "Bags"},
                                              {"category": "Accessories"}], 1.0,
                                 ["129.00", "89.50", "59.00", "214.90", "18.00", "342.40"])],
        "/search": [("Search", [{"query": "running shoes"}, {"query": "tote"},
                                {"query": "socks"}, {"query": "gift card"}], 0.8, [])],
    },
    goals=[("Add to Cart", None), ("Begin Checkout", None), ("Purchase", None),
           (None, "/checkout/thank-you")],
)

BLOG = DemoSite(
    domain="blog.example",
    name="Example Blog",
    timezone="Europe/London",
    visitors_per_day=650,
    weekend_factor=0.85,
    bounce_rate=0.68,
    pages=[
        ("/", 12), ("/posts/why-we-left-google-analytics", 9), ("/posts/sqlite-in-production", 8),
        ("/posts/a-year-of-self-hosting", 7), ("/posts/writing-a-tiny-tracker", 6),
        ("/posts/clickhouse-for-python-people", 6), ("/posts/privacy-without-banners", 5),
        ("/posts/notes-on-sessions", 3), ("/tags/python", 3), ("/tags/privacy", 2),
        ("/about", 3), ("/newsletter", 2), ("/archive", 2),
    ],
    flows={
        "/": [("/posts/why-we-left-google-analytics", 3), ("/posts/sqlite-in-production", 2),
              ("/archive", 1)],
        "/archive": [("/posts/notes-on-sessions", 2), ("/posts/a-year-of-self-hosting", 2)],
        "/tags/python": [("/posts/clickhouse-for-python-people", 3),
                         ("/posts/sqlite-in-production", 2)],
    },
    sources=[
        *_GENERIC_SOURCES,
        ("https://lobste.rs/", "Lobsters", "Referral", "", "", "", "", "", 3),
        ("https://feedly.com/", "Feedly", "Referral", "", "", "", "", "", 2),
        ("", "newsletter", "Email", "newsletter", "email", "weekly-digest", "", "", 5),
    ],
    events={
        "/newsletter": [("Newsletter Signup", [{"position": "page"}], 0.4, [])],
        "/posts/why-we-left-google-analytics": [
            ("Newsletter Signup", [{"position": "footer"}], 0.03, []),
            ("Share", [{"network": "mastodon"}, {"network": "twitter"},
                       {"network": "linkedin"}], 0.04, [])],
        "/posts/sqlite-in-production": [
            ("Outbound Link: Click", [{"url": "https://sqlite.org/wal.html"},
                                      {"url": "https://litestream.io/"}], 0.15, [])],
        "/posts/clickhouse-for-python-people": [
            ("Outbound Link: Click", [{"url": "https://github.com/chdb-io/chdb"}], 0.12, [])],
    },
    goals=[("Newsletter Signup", None), ("Outbound Link: Click", None)],
    spike_day=17,
    spike_source=("https://www.reddit.com/", "Reddit", "Organic Social",
                  "", "", "", "", "", 1),
)

SITES: list[DemoSite] = [SAAS, SHOP, BLOG]

# Pages people rarely land on from outside.
DEEP_PAGES = {"/cart", "/checkout", "/checkout/thank-you", "/signup", "/login", "/account"}

PLACES: list[Place] = [
    ("US", "California", "San Francisco", 6), ("US", "California", "Los Angeles", 4),
    ("US", "New York", "New York", 6), ("US", "Texas", "Austin", 3),
    ("US", "Texas", "Houston", 2), ("US", "Washington", "Seattle", 3),
    ("US", "Illinois", "Chicago", 3), ("US", "Massachusetts", "Boston", 2),
    ("US", "", "", 2),
    ("DE", "Bavaria", "Munich", 3), ("DE", "Berlin", "Berlin", 4),
    ("DE", "Hamburg", "Hamburg", 1.5), ("DE", "North Rhine-Westphalia", "Cologne", 1.5),
    ("GB", "England", "London", 5), ("GB", "England", "Manchester", 1.5),
    ("GB", "Scotland", "Edinburgh", 1),
    ("FR", "Île-de-France", "Paris", 3), ("FR", "Auvergne-Rhône-Alpes", "Lyon", 1),
    ("IN", "Karnataka", "Bengaluru", 3), ("IN", "Maharashtra", "Mumbai", 2),
    ("IN", "Delhi", "New Delhi", 2),
    ("CA", "Ontario", "Toronto", 2), ("CA", "British Columbia", "Vancouver", 1.2),
    ("CA", "Quebec", "Montreal", 0.8),
    ("NL", "North Holland", "Amsterdam", 2), ("NL", "South Holland", "Rotterdam", 0.7),
    ("BR", "São Paulo", "São Paulo", 2), ("BR", "Rio de Janeiro", "Rio de Janeiro", 0.8),
    ("JP", "Tokyo", "Tokyo", 2), ("JP", "Osaka", "Osaka", 0.7),
    ("AU", "New South Wales", "Sydney", 1.5), ("AU", "Victoria", "Melbourne", 1.2),
    ("ES", "Madrid", "Madrid", 1.2), ("ES", "Catalonia", "Barcelona", 1),
    ("SE", "Stockholm", "Stockholm", 1), ("PL", "Mazovia", "Warsaw", 1.2),
    ("IT", "Lombardy", "Milan", 1), ("IT", "Lazio", "Rome", 0.8),
    ("CH", "Zurich", "Zurich", 0.8), ("AT", "Vienna", "Vienna", 0.7),
    ("DK", "Capital Region", "Copenhagen", 0.6), ("FI", "Uusimaa", "Helsinki", 0.5),
    ("NO", "Oslo", "Oslo", 0.5), ("IE", "Leinster", "Dublin", 0.6),
    ("SG", "", "Singapore", 0.8), ("KR", "Seoul", "Seoul", 0.7),
    ("MX", "Mexico City", "Mexico City", 0.7), ("AR", "Buenos Aires", "Buenos Aires", 0.5),
    ("ZA", "Gauteng", "Johannesburg", 0.4), ("NG", "Lagos", "Lagos", 0.4),
    ("UA", "Kyiv City", "Kyiv", 0.5), ("TR", "Istanbul", "Istanbul", 0.5),
    ("ID", "Jakarta", "Jakarta", 0.5), ("VN", "Hanoi", "Hanoi", 0.4),
    ("CN", "Shanghai", "Shanghai", 0.4), ("NZ", "Auckland", "Auckland", 0.3),
    ("PT", "Lisbon", "Lisbon", 0.5), ("CZ", "Prague", "Prague", 0.5),
    ("BE", "Brussels", "Brussels", 0.4), ("IL", "Tel Aviv", "Tel Aviv", 0.4),
]

TECH: list[Tech] = [
    ("Desktop", "Chrome", "131.0", "Windows", "10", "1920x1080", 16),
    ("Desktop", "Chrome", "131.0", "Windows", "10", "2560x1440", 8),
    ("Desktop", "Chrome", "131.0", "macOS", "10.15", "1512x982", 9),
    ("Desktop", "Safari", "18.1", "macOS", "10.15", "1728x1117", 6),
    ("Desktop", "Firefox", "133.0", "Windows", "10", "1920x1080", 4),
    ("Desktop", "Firefox", "133.0", "Linux", "", "1920x1080", 3),
    ("Desktop", "Edge", "131.0", "Windows", "10", "1920x1080", 5),
    ("Desktop", "Chrome", "131.0", "Linux", "", "2560x1440", 2),
    ("Desktop", "Chrome", "130.0", "ChromeOS", "14541.0", "1366x768", 1),
    ("Desktop", "Opera", "115.0", "Windows", "10", "1536x864", 1),
    ("Desktop", "Chrome", "130.0", "macOS", "10.15", "1440x900", 1),
    ("Mobile", "Safari", "18.1", "iOS", "18.1", "390x844", 14),
    ("Mobile", "Chrome", "131.0", "Android", "14", "412x915", 12),
    ("Mobile", "Samsung Internet", "26.0", "Android", "14", "384x832", 3),
    ("Mobile", "Chrome", "131.0", "iOS", "18.1", "393x852", 2),
    ("Mobile", "Firefox", "133.0", "Android", "13", "412x892", 1),
    ("Tablet", "Safari", "18.1", "iOS", "18.1", "820x1180", 3),
    ("Tablet", "Chrome", "131.0", "Android", "13", "800x1280", 1),
]

# A 24-hour (UTC) rhythm for a mostly European and American audience: quiet nights, a
# European working day and an American afternoon.
HOURS_UTC: list[float] = [
    2.0, 1.5, 1.2, 1.0, 1.1, 1.6, 2.6, 4.0, 5.5, 6.4, 6.8, 6.9,
    6.8, 7.0, 7.4, 7.6, 7.3, 6.8, 6.0, 5.3, 4.6, 3.9, 3.2, 2.5,
]

# Browser user agents the live trickle sends (the pipeline derives device fields from them).
USER_AGENTS: list[str] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
]
