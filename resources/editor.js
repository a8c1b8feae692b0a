// Helpers shared by the Upperstack node editors. Node-RED serves this file from the
// package's resources/ folder and each node's .html loads it before its own script,
// so it is there whichever node set the editor loads, even one added at runtime.
// Plain browser JS: nothing builds it.
(function (root) {
    'use strict';

    /**
     * Call in oneditprepare of a node with credentials. For a node that has none saved, the runtime sends
     * no entry at all, and Done compares the empty fields with those missing entries: an untouched node is
     * marked changed (and Deploy lit). Missing entries are set to what an empty form holds.
     */
    function noCredentialsAsEmpty(node, definition) {
        node.credentials = node.credentials || {};
        Object.keys(definition || {}).forEach(function (cred) {
            if (definition[cred].type === 'password') {
                if (node.credentials['has_' + cred] === undefined && node.credentials[cred] === undefined) node.credentials['has_' + cred] = false;
            } else if (node.credentials[cred] === undefined) {
                node.credentials[cred] = '';
            }
        });
    }

    /** The login an HTTP or CoAP input may ask of its clients. */
    var REQUEST_CREDENTIALS = {
        username: { type: 'text' },
        password: { type: 'password' }
    };

    // Flows saved before configVersion existed lack options; the runtime's migration fills them in.
    function legacyUnset(node, v) {
        return (v === undefined || v === null) && !!node && node.configVersion === undefined;
    }

    /** tr(key, subs, fallback) in the node's own catalogue; the fallback when the catalogue lacks the key. */
    function translator(def) {
        // RED.nodes.registerType adds def._ later, so it is looked up on each call.
        return function tr(key, subs, fallback) {
            if (typeof def._ === 'function') {
                var s = def._(key, subs);
                if (s && s !== key) return s;
            }
            return fallback;
        };
    }

    /** What the open dialog shows, unsaved edits included; the node's value when no dialog has the field. */
    function formValue(node, prop, prefix) {
        var el = $('#' + (prefix || 'node-input-') + prop);
        return el.length ? el.val() : node[prop];
    }

    var URL_LOGIN = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i;

    /**
     * A URL whose login carries a password, split as the runtime splits one (nodes/lib/security/url-login.ts
     * splitUrlLogin: percent-decoded, user and password at the last colon); undefined without a password.
     */
    function splitUrlLogin(url) {
        var m = URL_LOGIN.exec(url);
        if (!m) return undefined;
        var auth = m[2];
        try {
            auth = decodeURIComponent(auth);
        } catch {
            // Not percent-encoding after all: taken as written.
        }
        var split = /^(.+):(.+)$/.exec(auth);
        return split ? { url: m[1] + url.slice(m[0].length), username: split[1], password: split[2] } : undefined;
    }

    /** Whether a URL carries a login (`scheme://user@host` or `scheme://user:password@host`). */
    function hasUrlLogin(url) {
        return URL_LOGIN.test(url);
    }

    /** A URL as a label may show it: the password of a login in it replaced, as the runtime's status and log show it. */
    function shownUrl(url) {
        var m = URL_LOGIN.exec(url);
        if (!m || m[2].indexOf(':') < 0) return url;
        return m[1] + m[2].slice(0, m[2].indexOf(':')) + ':***@' + url.slice(m[0].length);
    }

    /**
     * A broker URL typed with a login (mqtt://user:password@host) in a dialog that has login fields: the login
     * moves into those fields, which Node-RED keeps as sealed credentials, and out of the URL, which the flows
     * file and an export hold in clear. The client logs in as before (a URL's login wins over the fields', so it
     * is the one it would have used). Returns true when it moved one.
     */
    function moveUrlLogin(urlField, userField, passwordField) {
        var split = splitUrlLogin(String(urlField.val() || '').trim());
        if (!split) return false;
        urlField.val(split.url);
        userField.val(split.username);
        passwordField.val(split.password);
        return true;
    }

    function labelStyle() {
        return this.name ? 'node_label_italic' : '';
    }

    // Validators take (v, opt): Node-RED counts a reason returned by a one-argument validator as truthy, i.e. valid.

    /** A choice that must be one of list. */
    function oneOf(list, message) {
        return function (v, opt) {
            if (legacyUnset(this, v)) return true;
            return list.indexOf(v) !== -1 ? true : message();
        };
    }

    // Whole numbers are edited in a text field of another id than the property
    // ("<prop>Num"): the editor would otherwise save them as text, and a typo stays
    // visible as typed. spec: { min, max, value (the default), zeroWasDefault }.

    function outOfRange(v, spec) {
        var s = String(v === undefined || v === null ? '' : v).trim();
        return !/^\d+$/.test(s) || Number(s) < spec.min || Number(s) > spec.max;
    }

    function wholeValidator(spec, message) {
        return function (v, opt) {
            if (legacyUnset(this, v)) return true;
            // Before configVersion, 0 or empty meant the default for some of these.
            if (spec.zeroWasDefault && this && this.configVersion === undefined && (v === 0 || v === '' || v === '0')) return true;
            return outOfRange(v, spec) ? message() : true;
        };
    }

    /** Fills the field with v, or with the default the runtime would use, and marks it red while out of range. */
    function showWhole(el, v, spec) {
        var unset = v === undefined || v === '' || (spec.zeroWasDefault && Number(v) === 0);
        el.val(String(unset ? spec.value : v));
        var mark = function () { el.toggleClass('input-error', outOfRange(el.val(), spec)); };
        el.on('change keyup', mark);
        mark();
    }

    /** The number to save, or the text as typed so that validation flags it. */
    function wholeValue(el) {
        var s = String(el.val() || '').trim();
        return /^\d+$/.test(s) ? Number(s) : s;
    }

    // What one message may hold: the same defaults and ranges as the runtime (nodes/lib/limits.ts).
    var LIMITS = {
        maxBytes: { min: 1, max: 268435456, value: 1048576 },
        maxDepth: { min: 2, max: 1000, value: 32 },
        maxFields: { min: 1, max: 1000000, value: 1000 },
        maxStringLength: { min: 1, max: 67108864, value: 65536 },
        maxReadings: { min: 1, max: 10000000, value: 10000 }
    };

    /**
     * The defaults entry of a limit setting that came with config version `since`; a node
     * saved before has none, and the runtime's migration gives it the default.
     * message(spec) gives the reason shown for a bad value.
     */
    function limitProperty(prop, since, message) {
        var spec = LIMITS[prop];
        var check = wholeValidator(spec, function () { return message(spec); });
        return {
            value: spec.value,
            validate: function (v, opt) {
                if ((v === undefined || v === null) && !(this && this.configVersion >= since)) return true;
                return check.call(this, v, opt);
            }
        };
    }

    /** Fills the limit fields ("<prop>Num") of a dialog. */
    function showLimits(node, props) {
        props.forEach(function (prop) { showWhole($('#node-input-' + prop + 'Num'), node[prop], LIMITS[prop]); });
    }

    /** Copies the limit fields of a dialog to the node. */
    function saveLimits(node, props) {
        props.forEach(function (prop) { node[prop] = wholeValue($('#node-input-' + prop + 'Num')); });
    }

    function isBroker(id) {
        var b = RED.nodes.node(id);
        return !!b && b.type === 'upperstack-broker';
    }

    function brokers() {
        var list = [];
        RED.nodes.eachNode(function (n) {
            if (n.type === 'upperstack-broker') list.push(n);
            // No return value: returning false would stop eachNode early.
        });
        return list;
    }

    /**
     * Offers "" (onlyText), every embedded broker, and current even when that broker is gone,
     * so a dangling choice shows rather than silently becoming "". Returns the brokers.
     */
    function fillBrokers(select, current, onlyText, missingText) {
        select.empty();
        var list = brokers();
        $('<option>').val('').text(onlyText).appendTo(select);
        list.forEach(function (b) {
            var label = b.name || 'mqtt broker :' + (b.port || '1883');
            $('<option>').val(b.id).text(label + (b.d ? ' (disabled)' : '')).appendTo(select);
        });
        if (current && !list.some(function (b) { return b.id === current; })) {
            $('<option>').val(current).text(missingText + ' (' + current + ')').appendTo(select);
        }
        // The editor set the select's value before it had these options; without this the first ("") shows and is saved.
        select.val(current || '');
        return list;
    }

    /** The one enabled config node of type a node on tab z can use (global or on that tab); '' when there are none or several. */
    function onlyConfig(type, z) {
        var found = [];
        RED.nodes.eachConfig(function (c) {
            if (c.type === type && !c.d && (!c.z || c.z === z)) found.push(c.id);
        });
        return found.length === 1 ? found[0] : '';
    }

    /**
     * onadd of a node that needs a store. Node-RED 4 adds a node from the palette with "none" chosen, so it
     * showed invalid even where the runtime has a single store config (the default pack's): that one is chosen.
     * With several the user picks; a pasted or imported node keeps the store it has.
     */
    function chooseOnlyStore() {
        if (!this.store) this.store = onlyConfig('upperstack-store-config', this.z);
    }

    var FORMATS = ['json', 'cbor', 'msgpack', 'protobuf', 'lineprotocol', 'senml', 'senml-cbor', 'xml'];
    var PROTO_TYPE = /^\.?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

    /**
     * The parts the HTTP and CoAP inputs' editors share: both answer requests once journaled, with the same
     * schema choice, message type, backpressure marks and device login. type is the node type, whose catalogue
     * holds the same errors.* and outputLabels.* keys; getDef() gives its definition, whose catalogue
     * registerType adds later.
     */
    function requestInput(type, getDef) {
        function tr(key, subs, fallback) { return translator(getDef())(type + '.' + key, subs, fallback); }
        /** A whole number from min to max; key names the reason in the catalogue's errors. */
        function whole(min, max, key, fallback) {
            return function (v, opt) {
                if (legacyUnset(this, v)) return true;
                var s = String(v === undefined || v === null ? '' : v).trim();
                return /^\d+$/.test(s) && Number(s) >= min && Number(s) <= max ? true : tr('errors.' + key, {}, fallback);
            };
        }
        /**
         * whole(), for an option added after the first version: a node saved before it has none and an empty field
         * stands for the default, which the runtime uses for both; flagging them would turn an untouched node invalid.
         */
        function wholeOrDefault(min, max, key, fallback) {
            var check = whole(min, max, key, fallback);
            return function (v, opt) {
                if (v === undefined || v === null || String(v).trim() === '') return true;
                return check.call(this, v, opt);
            };
        }
        return {
            whole: whole,
            wholeOrDefault: wholeOrDefault,
            defaults: {
                protoType: {
                    value: 'upperstack.Reading',
                    validate: function (v, opt) {
                        if (legacyUnset(this, v) || v === '') return true;
                        return PROTO_TYPE.test(String(v)) ? true : tr('errors.protoType', {}, 'a message type is a dotted name, e.g. upperstack.Reading');
                    }
                },
                schemaSource: { value: 'default', validate: oneOf(['default', 'inline', 'file'], function () { return tr('errors.schemaSource', {}, 'choose where the schema comes from'); }) },
                highWater: { value: 5000, validate: whole(0, 10000000, 'highWater', 'a whole number of requests, 0 for no mark') },
                // Empty: the default, or no mark when the request mark is 0 (oneditsave fills it in accordingly).
                highWaterReadings: { value: 50000, validate: wholeOrDefault(0, 100000000, 'highWaterReadings', 'a whole number of readings, 0 for no mark') }
            },
            credentials: REQUEST_CREDENTIALS,
            outputLabels: function (i) {
                return i === 0 ? tr('outputLabels.readings', {}, 'readings') : tr('outputLabels.failed', {}, 'failed');
            },
            oneditprepare: function () {
                // An input without a saved login stays unchanged when closed with Done.
                noCredentialsAsEmpty(this, REQUEST_CREDENTIALS);
                var show = function () {
                    var s = $('#node-input-schemaSource').val();
                    $('.' + type + '-inline').toggle(s === 'inline');
                    $('.' + type + '-file').toggle(s === 'file');
                };
                $('#node-input-schemaSource').on('change', show);
                show();
            },
            oneditsave: function () {
                // Saved from this form: every option is set, the readings mark included. Node-RED copies
                // the form's fields into the node after this runs, so an empty mark is filled in the field.
                var marks = $('#node-input-highWaterReadings');
                if (String(marks.val()).trim() === '') marks.val(Number($('#node-input-highWater').val()) === 0 ? 0 : 50000);
                // The version of the node type's options, which the form holds all of.
                this.configVersion = getDef().defaults.configVersion.value;
            }
        };
    }

    root.UpperstackEditor = {
        legacyUnset: legacyUnset,
        translator: translator,
        formValue: formValue,
        splitUrlLogin: splitUrlLogin,
        hasUrlLogin: hasUrlLogin,
        shownUrl: shownUrl,
        moveUrlLogin: moveUrlLogin,
        noCredentialsAsEmpty: noCredentialsAsEmpty,
        labelStyle: labelStyle,
        oneOf: oneOf,
        wholeValidator: wholeValidator,
        showWhole: showWhole,
        wholeValue: wholeValue,
        LIMITS: LIMITS,
        limitProperty: limitProperty,
        showLimits: showLimits,
        saveLimits: saveLimits,
        isBroker: isBroker,
        fillBrokers: fillBrokers,
        onlyConfig: onlyConfig,
        chooseOnlyStore: chooseOnlyStore,
        /** What encode writes; decoders also take "auto". */
        FORMATS: FORMATS,
        DECODE_FORMATS: ['auto'].concat(FORMATS),
        /** A protobuf message type: a dotted name. */
        PROTO_TYPE: PROTO_TYPE,
        requestInput: requestInput
    };
})(window);
