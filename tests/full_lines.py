"""Log lines as the log wrote them before it left default-valued fields out: every field,
the kind first. Segments of them may be left on disk across an upgrade."""

FULL_EVENT = (
    b'{"_k":"e","timestamp":"2026-11-20 10:00:00.000","site_id":1,"name":"pageview",'
    b'"visitor_id":7,"session_id":8,"hostname":"example.com","pathname":"/a","referrer":"",'
    b'"referrer_source":"","channel":"Direct","utm_source":"","utm_medium":"",'
    b'"utm_campaign":"","utm_content":"","utm_term":"","country_code":"DE","region":"",'
    b'"city":"","device":"","browser":"","browser_version":"","os":"","os_version":"",'
    b'"screen":"","props":{},"revenue":"0","revenue_currency":"","engagement_ms":0,'
    b'"scroll_depth":0,"retention_days":30}\n')
FULL_SESSION = (
    b'{"_k":"s","site_id":1,"session_id":8,"visitor_id":7,"sign":1,"version":2,'
    b'"start":"2026-11-20 10:00:00.000","timestamp":"2026-11-20 10:05:00.000",'
    b'"hostname":"example.com","entry_page":"/a","exit_page":"/b","pageviews":2,"events":2,'
    b'"duration":300,"is_bounce":0,"referrer":"","referrer_source":"","channel":"Direct",'
    b'"utm_source":"","utm_medium":"","utm_campaign":"","utm_content":"","utm_term":"",'
    b'"country_code":"DE","region":"","city":"","device":"","browser":"",'
    b'"browser_version":"","os":"","os_version":"","screen":"","retention_days":30}\n')
