// The Imports page: upload and follow an import, and the import history.

import {apiUrl} from "./api.js";
import {setupHistory} from "./history.js";
import {setupUpload} from "./upload.js";

const docs = document.getElementById("api-docs-link");
if (docs) docs.href = apiUrl("/docs");

const history = setupHistory();
setupUpload({
  started: (item) => history.started(item),
  updated: (item) => history.updated(item),
  ended: (item) => history.ended(item),
});

document.documentElement.dataset.ready = "true";
