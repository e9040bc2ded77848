// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // The main menu: on small screens the bar is closed behind its menu button (the CSS hides it once the
  // html element has the "js" class); the button opens and closes it, Escape closes it.
  document.documentElement.classList.add("js");
  var navToggle = document.querySelector(".nav-toggle[aria-controls]");
  var nav = navToggle && document.getElementById(navToggle.getAttribute("aria-controls"));
  var setNavOpen = function (open) {
    nav.classList.toggle("nav--open", open);
    navToggle.setAttribute("aria-expanded", open ? "true" : "false");
  };
  if (nav) {
    navToggle.hidden = false;
    navToggle.addEventListener("click", function () {
      setNavOpen(!nav.classList.contains("nav--open"));
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && nav.classList.contains("nav--open") && navToggle.offsetParent !== null) {
        setNavOpen(false);
        navToggle.focus();
      }
    });
  }

  // Ask before destructive POSTs: <button data-confirm="Delete this?">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  // "Add a line" on formsets: copies the <template> row and bumps the formset's TOTAL_FORMS.
  document.querySelectorAll("[data-formset-add]").forEach(function (button) {
    var prefix = button.getAttribute("data-formset-add");
    var form = button.closest("form");
    var total = form.querySelector("#id_" + prefix + "-TOTAL_FORMS");
    var body = form.querySelector("[data-formset-body]");
    var template = form.querySelector("template[data-formset-template]");
    if (!total || !body || !template) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var index = parseInt(total.value, 10);
      var html = template.innerHTML.replace(/__prefix__/g, index).replace(/line new\b/g, "line " + (index + 1));
      body.insertAdjacentHTML("beforeend", html);
      total.value = index + 1;
      var first = body.lastElementChild.querySelector("select, input");
      if (first) {
        first.focus();
      }
    });
  });

  // The "⋯" menus are <details>: Escape closes the open one, a click elsewhere closes them all.
  document.addEventListener("keydown", function (event) {
    var open = event.key === "Escape" && event.target.closest && event.target.closest("details[data-menu][open]");
    if (open) {
      open.open = false;
      open.querySelector("summary").focus();
    }
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) {
        menu.open = false;
      }
    });
  });

  // Status tooltips show on hover and on focus (CSS); Escape hides the one showing without moving the pointer
  // or the focus (WCAG 1.4.13). It shows again once the pointer and the focus have left its badge and come back.
  var DISMISSED = "qb-cell--dismissed";
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    document.querySelectorAll(".qb-cell").forEach(function (cell) {
      if (cell.matches(":hover") || cell.contains(document.activeElement)) {
        cell.classList.add(DISMISSED);
      }
    });
  });
  var undismiss = function (event) {
    var cell = event.target.closest && event.target.closest("." + DISMISSED);
    if (!cell || (event.relatedTarget && cell.contains(event.relatedTarget))) {
      return;
    }
    // Still hovered while focus leaves, or still focused while the pointer leaves: stay dismissed.
    window.requestAnimationFrame(function () {
      if (!cell.matches(":hover") && !cell.contains(document.activeElement)) {
        cell.classList.remove(DISMISSED);
      }
    });
  };
  document.addEventListener("mouseout", undismiss);
  document.addEventListener("focusout", undismiss);

  // QuickBooks statuses that are "Syncing" refresh themselves until they settle, without reloading the
  // page: every 2 s, ask the status URL for those rows and swap in the cells (and, on an account's Info tab
  // or an invoice's page, its whole QuickBooks section) whose status changed. Accounts use data-qb-cell,
  // data-qb-section and accounts:sync_status; invoices data-qb-invoice-cell, data-qb-invoice-section and
  // invoices:sync_status. A page may poll both.
  var SYNCING = "Syncing";
  var POLL_MS = 2000;

  var replace = function (element, html) {
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var fresh = holder.firstElementChild;
    // Keep the keyboard user's place when the focused status badge is swapped.
    var hadFocus = element.contains(document.activeElement);
    element.replaceWith(fresh);
    if (hadFocus) {
      var badge = fresh.querySelector(".qb-status");
      if (badge) {
        badge.focus();
      }
    }
  };

  var pollStatuses = function (kind) {
    var prefix = "data-qb-" + (kind ? kind + "-" : "");
    var cellAttr = prefix + "cell";
    var sectionAttr = prefix + "section";
    var source = document.querySelector("[" + prefix + "status-url]");
    if (!source || !window.fetch) {
      return;
    }
    var statusUrl = source.getAttribute(prefix + "status-url");

    var syncing = function () {
      var section = document.querySelector("[" + sectionAttr + "]");
      var cells = Array.prototype.filter.call(
        document.querySelectorAll("[" + cellAttr + "]"),
        function (cell) { return !cell.closest("[" + sectionAttr + "]") && cell.getAttribute("data-qb-status") === SYNCING; }
      );
      return {
        section: section && section.getAttribute("data-qb-status") === SYNCING ? section : null,
        cells: cells,
      };
    };

    // The section holds the sync history: the refreshed one keeps the outcome filter the page shows.
    var historyFilter = function () {
      var page = new URLSearchParams(window.location.search);
      var kept = new URLSearchParams();
      ["history", "history_all"].forEach(function (name) {
        if (page.get(name)) {
          kept.set(name, page.get(name));
        }
      });
      var query = kept.toString();
      return query ? "&" + query : "";
    };

    var poll = function () {
      var pending = syncing();
      var ids = pending.cells.map(function (cell) { return cell.getAttribute(cellAttr); });
      var sectionId = pending.section ? pending.section.getAttribute(sectionAttr) : "";
      if (sectionId) {
        ids.push(sectionId);
      }
      if (!ids.length) {
        return; // everything settled: stop polling
      }
      if (document.hidden) {
        window.setTimeout(poll, POLL_MS);
        return;
      }
      var url = statusUrl + "?ids=" + encodeURIComponent(ids.join(",")) + (sectionId ? "&section=" + sectionId + historyFilter() : "");
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("status poll answered " + response.status);
          }
          return response.json();
        })
        .then(function (statuses) {
          pending.cells.forEach(function (cell) {
            var entry = statuses[cell.getAttribute(cellAttr)];
            if (!entry) {
              cell.removeAttribute("data-qb-status"); // gone (deleted): stop asking for it
            } else if (entry.status !== SYNCING) {
              replace(cell, entry.html);
            }
          });
          var entry = sectionId && statuses[sectionId];
          if (entry && entry.status !== SYNCING && entry.section) {
            replace(pending.section, entry.section);
            document.dispatchEvent(new CustomEvent("qb:section-settled"));
          }
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          // Signed out, offline or a server error: try again later, more slowly.
          window.setTimeout(poll, POLL_MS * 5);
        });
    };

    window.setTimeout(poll, POLL_MS);
  };

  // The status counts beside a list's filters follow its rows: while any shows Syncing, ask the counts URL
  // (it keeps the page's search) every 2 s and put the new counts in, until nothing is Syncing.
  var pollCounts = function () {
    var filters = document.querySelector("[data-qb-counts-url]");
    if (!filters || !window.fetch) {
      return;
    }
    var countsUrl = filters.getAttribute("data-qb-counts-url");
    var countOf = function (status) {
      return filters.querySelector('[data-qb-count="' + status + '"]');
    };
    var poll = function () {
      var syncing = countOf(SYNCING);
      if (!syncing || parseInt(syncing.textContent, 10) === 0) {
        return; // everything settled: stop polling
      }
      if (document.hidden) {
        window.setTimeout(poll, POLL_MS);
        return;
      }
      fetch(countsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("counts poll answered " + response.status);
          }
          return response.json();
        })
        .then(function (counts) {
          Object.keys(counts).forEach(function (status) {
            var count = countOf(status);
            if (count) {
              count.textContent = counts[status];
            }
          });
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          window.setTimeout(poll, POLL_MS * 5);
        });
    };
    window.setTimeout(poll, POLL_MS);
  };

  pollStatuses("");
  pollStatuses("invoice");
  pollCounts();

  // An account's invoices and payments follow it: once its Info tab's QuickBooks section settles, the
  // tables marked data-qb-refresh-on-settle (each with an id) are fetched again from this page, and again
  // every 2 s while a row in them shows "Syncing".
  var refreshRows = function () {
    var tables = document.querySelectorAll("[data-qb-refresh-on-settle][id]");
    if (!tables.length || !window.fetch || !window.DOMParser) {
      return;
    }
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("row refresh answered " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        tables.forEach(function (table) {
          var fresh = page.getElementById(table.id);
          if (fresh) {
            table.replaceWith(document.importNode(fresh, true));
          }
        });
        if (document.querySelector("[data-qb-refresh-on-settle] [data-qb-status='" + SYNCING + "']")) {
          window.setTimeout(refreshRows, POLL_MS);
        }
      })
      .catch(function () {
        window.setTimeout(refreshRows, POLL_MS * 5);
      });
  };
  document.addEventListener("qb:section-settled", refreshRows);
})();
