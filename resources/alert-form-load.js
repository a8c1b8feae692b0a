// The alert rule form's files, listed once: the upperstack-alert node's dialog, the /upperstack/alerts page
// and the tests all take the list from here. Each file builds on the ones before it, so they are run one
// after another, from the folder this file itself was loaded from.
(function (root) {
    'use strict';
    var FILES = ['alert-form-kit', 'alert-form-condition', 'alert-form-read', 'alert-form-errors', 'alert-form'];
    var doc = root.document;
    var here = doc && doc.currentScript ? doc.currentScript.src : '';
    var base = here.slice(0, here.lastIndexOf('/') + 1);
    var ready = null;

    function script(src) {
        return new Promise(function (resolve, reject) {
            var s = doc.createElement('script');
            s.src = src;
            s.onload = resolve;
            s.onerror = function () { reject(new Error(src + ' did not load')); };
            doc.head.appendChild(s);
        });
    }
    /** Resolves once window.UpperstackAlertForm is there; the files are fetched once (again after a failure). */
    function load() {
        ready = ready || FILES.reduce(function (p, name) {
            return p.then(function () { return script(base + name + '.js'); });
        }, Promise.resolve()).catch(function (err) { ready = null; throw err; });
        return ready;
    }
    root.UpperstackAlertFormFiles = { files: FILES.slice(), load: load };
})(window);
