// Reference prompts for tests/data/test_sillytavern.py: SillyTavern's text-completion instruct-mode prompt, built
// with the official handlebars.js package, independently of llm/data/sillytavern.py.
//
// Reads a JSON list of cases from stdin: {context, instruct (preset objects as SillyTavern ships them),
// character: {name, user_name, description, personality, scenario, system_prompt, post_history_instructions,
// mes_example, character_book?}, messages: [{role, content}], add_generation_prompt}; writes a JSON list of
// prompt strings. The assembly follows SillyTavern's documented order (docs/sillytavern.md): story string,
// example dialogue, chat start, [alignment message], history, post-history instructions, generation prompt.
//
//   HANDLEBARS=.cache/node/node_modules/handlebars node tests/helpers/st_reference.js < cases.json

'use strict';
const Handlebars = require(process.env.HANDLEBARS || 'handlebars');

Handlebars.registerHelper('trim', () => '{{trim}}');

const INSTRUCT_DEFAULTS = {
    input_sequence: '', output_sequence: '', system_sequence: '', input_suffix: '', output_suffix: '',
    system_suffix: '', first_output_sequence: '', last_output_sequence: '', stop_sequence: '',
    system_sequence_prefix: '', system_sequence_suffix: '', user_alignment_message: '',
    system_same_as_user: false, skip_examples: false, wrap: true, macro: true, system_prompt: '',
};

function instructPreset(raw) {
    const p = Object.assign({}, INSTRUCT_DEFAULTS, raw);
    if (raw.names_behavior === undefined) {  // SillyTavern's migration of old presets
        p.names_behavior = raw.names === undefined ? 'force' : raw.names ? 'always' : raw.names_force_groups ? 'force' : 'none';
    }
    return p;
}

function substitute(text, char, user) {
    return text.replace(/{{char}}/gi, char).replace(/{{user}}/gi, user);
}

function macros(text, ins, char, user, name) {
    if (!ins.macro) return text;
    return substitute(text, char, user).replace(/{{name}}/gi, name);
}

function withOriginal(text, original) {
    return text.replace(/{{\s*original\s*}}/gi, () => original);
}

// Lorebook: entries whose keys occur in the last scan_depth user/assistant messages before the reply
// being written (trailing replies left out); constant entries always; by insertion_order.
function lore(book, messages) {
    if (!book) return [[], []];
    const turns = messages.filter(m => m.role !== 'system');
    while (turns.length && turns[turns.length - 1].role === 'assistant') turns.pop();
    const depth = book.scan_depth === undefined ? 2 : book.scan_depth;
    const hay = (depth > 0 ? turns.slice(-depth) : []).map(m => m.content).join('\n');
    const found = (keys, cs) => (keys || []).some(k => k && (cs ? hay.includes(k) : hay.toLowerCase().includes(k.toLowerCase())));
    const chosen = book.entries.filter(e => {
        if (e.enabled === false) return false;
        if (e.constant) return true;
        if (!found(e.keys, e.case_sensitive)) return false;
        return !(e.selective && (e.secondary_keys || []).length) || found(e.secondary_keys, e.case_sensitive);
    }).map((e, i) => [e, i]).sort((a, b) => (a[0].insertion_order || 0) - (b[0].insertion_order || 0) || a[1] - b[1]).map(x => x[0]);
    return [chosen.filter(e => e.position !== 'after_char').map(e => e.content),
            chosen.filter(e => e.position === 'after_char').map(e => e.content)];
}

function storyString(ctx, ins, ch, messages) {
    const sep = ins.wrap ? '\n' : '';
    const def = messages.length && messages[0].role === 'system' ? messages[0].content : macros(ins.system_prompt, ins, ch.name, ch.user_name, ch.name);
    let system = (ch.system_prompt ? withOriginal(ch.system_prompt, def) : def).trim();
    if (system && ins.system_sequence_prefix) system = ins.system_sequence_prefix.replace(/{{name}}/gi, 'System') + sep + system;
    if (system && ins.system_sequence_suffix) system = system + sep + ins.system_sequence_suffix;
    const [before, after] = lore(ch.character_book, messages);
    const params = {
        system, description: ch.description.trim(), personality: ch.personality.trim(), scenario: ch.scenario.trim(),
        wiBefore: before.join('\n').trim(), wiAfter: after.join('\n').trim(), persona: '', char: ch.name, user: ch.user_name,
    };
    params.loreBefore = params.wiBefore;
    params.loreAfter = params.wiAfter;
    let out = Handlebars.compile(ctx.story_string, { noEscape: true })(params);
    out = substitute(out, ch.name, ch.user_name);
    out = out.replace(/(?:\r?\n)*{{trim}}(?:\r?\n)*/gi, '').replace(/^\n+/, '');
    if (out.length > 0 && !out.endsWith('\n') && ins.wrap) out += '\n';
    return out;
}

function blocksOf(mesExample) {
    let text = mesExample.trim();
    if (!text) return [];
    if (!text.toUpperCase().startsWith('<START>')) text = '<START>\n' + text;
    return text.split(/<START>/gi).slice(1).map(b => b.trim());
}

function parseBlock(block, char, user) {
    const result = [];
    let lines = [];
    let who = null;
    const flush = () => {
        const name = who === 'user' ? user : char;
        result.push([who, lines.join('\n').replace(name + ':', '').trim()]);
        lines = [];
    };
    for (const line of block.split('\n')) {
        const now = line.startsWith(user + ':') ? 'user' : line.startsWith(char + ':') ? 'char' : null;
        if (now && who && now !== who) flush();
        if (now) who = now;
        lines.push(line);
    }
    if (who) flush();
    return result;
}

function join(prefix, rest, sep) {
    return [prefix, rest].filter(x => x).join(sep);
}

function examples(ctx, ins, ch) {
    const blocks = blocksOf(ch.mes_example || '');
    if (!blocks.length) return '';
    const heading = ctx.example_separator ? macros(ctx.example_separator, ins, ch.name, ch.user_name, ch.name) + '\n' : '';
    const parsed = blocks.map(b => parseBlock(b, ch.name, ch.user_name));
    if (ins.skip_examples || parsed.every(b => b.length === 0)) {
        return blocks.map(b => heading + b + '\n').join('');
    }
    const sep = ins.wrap ? '\n' : '';
    let out = '';
    for (const block of parsed) {
        if (!block.length) continue;
        out += heading;
        for (const [who, text] of block) {
            const isUser = who === 'user';
            const name = isUser ? ch.user_name : ch.name;
            const prefix = macros(isUser ? ins.input_sequence : ins.output_sequence, ins, ch.name, ch.user_name, name);
            let suffix = macros(isUser ? ins.input_suffix : ins.output_suffix, ins, ch.name, ch.user_name, name);
            if (!suffix && ins.wrap && ins.macro) suffix = '\n';
            const named = ins.names_behavior === 'always' || (ins.names_behavior === 'force' && isUser);
            out += join(prefix, (named ? `${name}: ${text}` : text) + suffix, sep);
        }
    }
    return out;
}

// SillyTavern's formatInstructModeChat for a 1:1 chat (no group, no forced avatar).
function chatMessage(ins, ch, role, text, forceFirst) {
    const char = ch.name, user = ch.user_name;
    const name = role === 'user' ? user : role === 'assistant' ? char : 'System';
    let prefix, suffix;
    if (role === 'user') { prefix = ins.input_sequence; suffix = ins.input_suffix; }
    else if (role === 'assistant') { prefix = forceFirst && ins.first_output_sequence ? ins.first_output_sequence : ins.output_sequence; suffix = ins.output_suffix; }
    else { prefix = ins.system_same_as_user ? ins.input_sequence : ins.system_sequence; suffix = ins.system_same_as_user ? ins.input_suffix : ins.system_suffix; }
    prefix = macros(prefix, ins, char, user, name);
    suffix = macros(suffix, ins, char, user, name);
    if (!suffix && ins.wrap) suffix = '\n';
    const named = role !== 'system' && ins.names_behavior === 'always';
    return join(prefix, (named ? `${name}: ${text}` : text) + suffix, ins.wrap ? '\n' : '');
}

// SillyTavern's formatInstructModePrompt, less the wrap newline it writes before the line (the history's
// suffix already ends the previous line).
function generationPrompt(ins, ch) {
    const names = ins.names_behavior === 'always';
    const sep = ins.wrap ? '\n' : '';
    let seq = macros(ins.last_output_sequence || ins.output_sequence, ins, ch.name, ch.user_name, ch.name);
    let filler = '';
    if (names && ins.last_output_sequence && ins.output_sequence && /\s$/.test(ins.output_sequence) && !/\s$/.test(ins.last_output_sequence)) {
        filler = ins.output_sequence.slice(-1);
    }
    const text = names ? seq + sep + filler + `${ch.name}:` : seq;
    return (ins.wrap ? text.trimEnd() : text) + (names ? '' : sep);
}

function render(c) {
    const ctx = Object.assign({ example_separator: '', chat_start: '' }, c.context);
    const ins = instructPreset(c.instruct);
    const raw = c.character;
    const ch = Object.assign({ description: '', personality: '', scenario: '', system_prompt: '', post_history_instructions: '', mes_example: '' }, raw);
    for (const key of ['description', 'personality', 'scenario', 'system_prompt', 'post_history_instructions', 'mes_example']) {
        ch[key] = substitute(ch[key], ch.name, ch.user_name);
    }
    if (ch.character_book) {
        ch.character_book = Object.assign({}, ch.character_book, { entries: ch.character_book.entries.map(e => Object.assign({}, e, { content: substitute(e.content, ch.name, ch.user_name) })) });
    }
    const messages = c.messages.map(m => ({ role: m.role, content: substitute(m.content, ch.name, ch.user_name) }));
    let out = storyString(ctx, ins, ch, messages) + examples(ctx, ins, ch);
    if (ctx.chat_start) out += macros(ctx.chat_start, ins, ch.name, ch.user_name, ch.name) + '\n';
    const turns = messages.filter(m => m.role !== 'system');
    const opensWithReply = turns.length ? turns[0].role === 'assistant' : c.add_generation_prompt;
    if (ins.user_alignment_message && opensWithReply) {
        out += chatMessage(ins, ch, 'user', macros(ins.user_alignment_message, ins, ch.name, ch.user_name, ch.user_name), false);
    }
    let lastUser = -1;
    turns.forEach((m, i) => { if (m.role === 'user') lastUser = i; });
    const phi = withOriginal(ch.post_history_instructions, '').trim();
    let first = true;
    turns.forEach((m, i) => {
        out += chatMessage(ins, ch, m.role, m.content, m.role === 'assistant' && first);
        if (m.role === 'assistant') first = false;
        if (i === lastUser && phi) out += chatMessage(ins, ch, 'system', phi, false);
    });
    if (c.add_generation_prompt) out += generationPrompt(ins, ch);
    return out;
}

let input = '';
process.stdin.on('data', d => { input += d; });
process.stdin.on('end', () => {
    process.stdout.write(JSON.stringify(JSON.parse(input).map(render)));
});
