/* Settings page: copy a tracking snippet to the clipboard; follow a running import. */
(function () {
  'use strict';
  for (const button of document.querySelectorAll('[data-copy]')) {
    button.addEventListener('click', async () => {
      const area = document.getElementById(button.dataset.copy);
      area.select();
      try { await navigator.clipboard.writeText(area.value); } catch (e) { document.execCommand('copy'); }
      const text = button.textContent;
      button.textContent = 'Copied';
      setTimeout(() => { button.textContent = text; }, 1500);
    });
  }
  // An import is being stored: show its progress by reloading the page until it ends.
  if (document.querySelector('[data-import-status="importing"]')) {
    setTimeout(() => { location.reload(); }, 2000);
  }
})();
