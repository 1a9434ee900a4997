// Where the page finds the HTTP API. The deployment overwrites this file with the API's URL;
// the local cloud serves its own /config.js. An empty apiBase means "same origin".
window.CATALOG_CONFIG = window.CATALOG_CONFIG || {apiBase: ""};
