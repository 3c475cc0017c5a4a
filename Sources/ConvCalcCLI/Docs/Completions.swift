import ConvCalcCore
import ConvCalcEngine
import ConvCalcText

/// The shells `convcalc --completions SHELL` writes a completion script for.
enum CompletionShell: String, CaseIterable {
    case bash, zsh, fish
}

/// What a shell offers for an option's value or for a positional word.
enum CompletionValue: Equatable {
    /// Free text (a size, a number): nothing to offer.
    case free
    /// One of these words.
    case words([String])
    /// File names.
    case files
    /// Layer tokens: `TYPE:` and then the type's keys, and the merge words.
    case layers
    /// The commands (`convcalc help <TAB>`).
    case commands
}

/// An option as the completion scripts see it: its row of an option table.
struct CompletionOption {
    /// Every spelling of the row, the preferred one first.
    let names: [String]
    /// Spellings the parser also accepts (PyTorch's, `LayerSchema.aliases`): recognised before
    /// a value, never offered.
    let aliases: [String]
    /// What completes the value; nil for a flag.
    let value: CompletionValue?
    /// The help, short enough for a menu.
    let summary: String
    /// The value's placeholder (`SIZE`).
    let valueName: String?
}

/// A command as the completion scripts see it; convcalc itself is the command named "".
struct CompletionCommand {
    let name: String
    let options: [CompletionOption]
    let positionals: CompletionValue
}

/// A layer type as tokens start: its name (or alias), its summary and its keys.
struct CompletionLayerType {
    let name: String
    let summary: String
    /// The keys a token of the type takes, each with its meaning (`LayerSchema`).
    let keys: [(key: String, meaning: String)]
    /// `conv:` for a type with keys (nothing after it yet), `bn` for one without.
    var word: String { keys.isEmpty ? name : name + ":" }
}

/// The completion scripts, generated at run time from the tables: the commands and their
/// option tables (every spelling; flags and value options), `TopLevelOptions`, the layer
/// types and keys (`LayerType`, `LayerSchema`), and the value sets their owners define.
/// No script holds a hand-written list: a new option row is completed as it is added.
enum Completions {
    static func script(_ shell: CompletionShell) -> String {
        switch shell {
        case .bash: return BashCompletion.script
        case .zsh: return ZshCompletion.script
        case .fish: return FishCompletion.script
        }
    }

    /// convcalc itself (named ""), every command, and `help`. A command whose table has
    /// `--type` reads a stack (`StackOptions`), so its positionals are layer tokens; `run`'s
    /// are files (INPUT, KERNEL).
    static var model: [CompletionCommand] {
        [CompletionCommand(name: "", options: TopLevelOptions.options.map(option), positionals: .commands)]
            + commands.map { command in
                CompletionCommand(name: command.name, options: command.options.map(option),
                                  positionals: command.options.contains { $0.id == .type } ? .layers : .files)
            }
            + [CompletionCommand(name: helpCommand, options: [], positionals: .commands)]
    }

    static let helpCommand = "help"
    static let helpSummary = "show help for a command"

    /// The commands, each with its summary; `help` last.
    static var commandList: [(name: String, summary: String)] {
        commands.map { ($0.name, summary($0.summary)) } + [(helpCommand, helpSummary)]
    }

    static func option(_ spec: OptionSpec) -> CompletionOption {
        let aliases = LayerSchema.aliases.filter { spec.names.contains($0.value) }.keys.sorted()
        return CompletionOption(names: spec.names, aliases: aliases, value: spec.completion,
                                summary: summary(spec.help), valueName: spec.valueName)
    }

    /// Every layer type and alias as a token starts (`input` too: it may open a stack).
    static var layerTypes: [CompletionLayerType] {
        let named = LayerType.allCases.map { ($0.rawValue, $0) } + LayerType.aliases.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return named.map { name, type in
            CompletionLayerType(name: name, summary: name == type.rawValue ? summary(type.summary) : "alias of \(type.rawValue)",
                                keys: type.keys.map { ($0.rawValue, summary($0.spec.meaning)) })
        }
    }

    /// The words that start a branch (`add`, `concat`, `split`), with what they do.
    static var mergeWords: [(name: String, summary: String)] {
        MergeKind.allKinds.map { kind in
            switch kind {
            case .add: return (kind.name, "sum branches from the same input: add { … } { … }")
            case .concat: return (kind.name, "join branches' channels: concat { … } { … }")
            case .mul: return (kind.name, "multiply branches element by element (a gate): mul { … } { … }")
            case .split: return (kind.name, "share the channels among branches, then join them: split { … } { … }")
            }
        }
    }

    /// `help` as a menu entry: at most 80 characters, cut at a space.
    static func summary(_ help: String) -> String {
        guard help.count > 80 else { return help }
        var text = String(help.prefix(79))
        if let space = text.lastIndex(of: " ") { text = String(text[..<space]) }
        return text + "…"
    }

    static func header(_ shell: CompletionShell, _ install: String) -> String {
        "# \(shell.rawValue) completion for convcalc \(convcalcVersion), generated from its option tables by\n"
            + "# 'convcalc --completions \(shell.rawValue)'. \(install)\n"
    }
}

extension OptionSpec {
    /// What completes this option's value, nil for a flag. The word sets come from their
    /// owners, the types the parsers read the values with; a `FILE` is a file name (and
    /// `run --bias`'s VECTOR may be one); any other value is free text.
    var completion: CompletionValue? {
        // An optional value (`--draw [FORMAT]`) is completed as a flag: a layer may follow.
        guard !isFlag, optionalWords.isEmpty else { return nil }
        switch id {
        case .type: return .words(LayerType.allNames.filter { $0 != LayerType.input.rawValue })
        case let .layer(key): return key.spec.value.completion
        case .dims: return .words((1...maxSpatialDimensions).map(String.init))
        case .padMode: return .words(PaddingMode.allCases.map(\.rawValue))
        case .format: return .words(MatrixFormat.allCases.map(\.rawValue))
        case .method: return .words(ConvolutionMethod.allCases.map(\.rawValue))
        case .completions: return .words(CompletionShell.allCases.map(\.rawValue))
        case .emit: return .words(["net"])
        case .biasVector: return .files
        default: return valueName == "FILE" ? .files : .free
        }
    }
}

extension KeyValue {
    /// The words a key's value may be: the named paddings, or a small range of integers.
    var completion: CompletionValue {
        switch self {
        case .padding: return .words(Padding.named.map(\.description))
        case let .integer(range, _, _, _) where range.upperBound <= range.lowerBound + 8:
            return .words(range.map(String.init))
        default: return .free
        }
    }
}

// MARK: bash

/// The bash script: case tables generated from `Completions.model` (the options of each
/// command, what completes each value, the positionals, each layer type's keys) and a fixed
/// driver, `_convcalc`, that reads the line and consults them.
enum BashCompletion {
    static var script: String {
        let model = Completions.model
        return [Completions.header(.bash, "Installed as\n# share/bash-completion/completions/convcalc, or: source <(convcalc --completions bash). bash 4.1+."),
                optionsFunction(model), valueFunction(model), positionalsFunction(model), keysFunction(), layersFunction, driver,
                "complete -F _convcalc convcalc\n"].joined(separator: "\n")
    }

    /// `words a b c`, `files`, `layers` or `free`: what the driver does for a value or positional.
    static func kind(_ value: CompletionValue) -> String {
        switch value {
        case .free: return "free"
        case let .words(words): return "words " + words.joined(separator: " ")
        case .files: return "files"
        case .layers: return "layers"
        case .commands: return "words " + Completions.commandList.map(\.name).joined(separator: " ")
        }
    }

    /// A case pattern for `name` ('' for convcalc itself).
    static func pattern(_ name: String) -> String {
        name.isEmpty ? "''" : name
    }

    static func optionsFunction(_ model: [CompletionCommand]) -> String {
        var lines = ["# The options of command $1 ('' for convcalc itself), offered after a -.", "_convcalc_options() {", "    case $1 in"]
        for command in model where !command.options.isEmpty {
            lines.append("        \(pattern(command.name))) kind=\"words \(command.options.flatMap(\.names).joined(separator: " "))\" ;;")
        }
        return (lines + ["    esac", "}", ""]).joined(separator: "\n")
    }

    /// For each command, the options that take a value grouped by what completes it.
    static func valueFunction(_ model: [CompletionCommand]) -> String {
        var lines = ["# What completes the value of option $2 of command $1; nothing when $2 takes no value.", "_convcalc_value() {", "    case $1 in"]
        for command in model {
            var groups: [(kind: String, names: [String])] = []
            for option in command.options {
                guard let value = option.value else { continue }
                let kind = kind(value)
                if let index = groups.firstIndex(where: { $0.kind == kind }) {
                    groups[index].names += option.names + option.aliases
                } else {
                    groups.append((kind, option.names + option.aliases))
                }
            }
            guard !groups.isEmpty else { continue }
            lines += ["        \(pattern(command.name)))", "            case $2 in"]
            lines += groups.map { "                \($0.names.joined(separator: "|"))) kind=\"\($0.kind)\" ;;" }
            lines += ["            esac ;;"]
        }
        return (lines + ["    esac", "}", ""]).joined(separator: "\n")
    }

    static func positionalsFunction(_ model: [CompletionCommand]) -> String {
        var lines = ["# What completes a positional word of command $1.", "_convcalc_positionals() {", "    case $1 in"]
        for command in model {
            lines.append("        \(pattern(command.name))) kind=\"\(kind(command.positionals))\" ;;")
        }
        return (lines + ["    esac", "}", ""]).joined(separator: "\n")
    }

    static func keysFunction() -> String {
        var lines = ["# The keys of a token of layer type $1.", "_convcalc_keys() {", "    case $1 in"]
        for type in Completions.layerTypes where !type.keys.isEmpty {
            lines.append("        \(type.name)) keys=\"\(type.keys.map(\.key).joined(separator: " "))\" ;;")
        }
        return (lines + ["    esac", "}", ""]).joined(separator: "\n")
    }

    static var layersFunction: String {
        let starts = Completions.layerTypes.map(\.word) + Completions.mergeWords.map(\.name)
        return """
        # Layer tokens: TYPE: (TYPE alone when it takes no keys) and the merge words; after
        # TYPE:, the keys of TYPE not given yet. No expansion of what was typed.
        _convcalc_layers() {
            if [[ $cur != *:* ]]; then
                mapfile -t COMPREPLY < <(compgen -W "\(starts.joined(separator: " "))" -- "$cur")
                return
            fi
            local keys="" key given=${cur%"${cur##*[:,]}"}
            _convcalc_keys "${cur%%:*}"
            for key in $keys; do
                [[ ,${cur#*:} == *,"$key"=* ]] && continue
                [[ $given$key= == "$cur"* ]] && COMPREPLY+=("$given$key=")
            done
        }

        """
    }

    static let driver = #"""
    # The words of the line $1 as typed (quotes and backslashes kept), split at blanks outside
    # quotes, into words: bash's own words, less its splits at = and :. The last is the word
    # being completed (empty after a blank).
    _convcalc_split() {
        local line=$1 c quote="" word="" started=0 i
        words=()
        for (( i = 0; i < ${#line}; i++ )); do
            c=${line:i:1}
            if [[ $quote == "'" ]]; then
                [[ $c == "'" ]] && quote=""
            elif [[ $c == '\' ]]; then
                c+=${line:i+1:1}
                (( i++ ))
            elif [[ -n $quote ]]; then
                [[ $c == '"' ]] && quote=""
            elif [[ $c == [\'\"] ]]; then
                quote=$c
            elif [[ $c == [[:space:]] ]]; then
                (( started )) && words+=("$word")
                word="" started=0
                continue
            fi
            word+=$c started=1
        done
        words+=("$word")
    }

    # Completes convcalc's command line. The words up to the cursor come from COMP_LINE, so
    # that --name=value and TYPE:key=value stay whole (bash splits them at = and :), or from
    # COMP_WORDS and COMP_CWORD when COMP_LINE is unset. Replies are whole words, less the
    # part before the last word-break character, which bash does not replace. A file name
    # typed with quotes, a backslash or ~ is left to readline's own file completion.
    _convcalc() {
        local cur head="" prefix="" kind="" command="" prev="" i cword
        local -a words=()
        COMPREPLY=()
        if [[ -n ${COMP_LINE-} ]]; then
            _convcalc_split "${COMP_LINE:0:COMP_POINT}"
            cur=${words[${#words[@]}-1]}
            [[ -n ${COMP_WORDBREAKS-} ]] && head=${cur%"${cur##*[$COMP_WORDBREAKS]}"}
        else
            words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
            cur=${words[${#words[@]}-1]}
        fi
        cword=$(( ${#words[@]} - 1 ))
        (( cword > 1 )) && [[ ${words[1]} != -* ]] && command=${words[1]}
        (( cword > 0 )) && prev=${words[cword-1]}
        local ended=0
        for (( i = 1; i < cword; i++ )); do [[ ${words[i]} == -- ]] && ended=1; done
        if (( !ended )) && [[ $cur == --*=* ]]; then
            prefix=${cur%%=*}=
            _convcalc_value "$command" "${cur%%=*}"
            cur=${cur#*=}
        elif (( !ended )); then
            _convcalc_value "$command" "$prev"
            [[ -z $kind && $cur == -* ]] && _convcalc_options "$command"
        fi
        [[ -z $kind ]] && (( cword == 1 || ${#command} )) && _convcalc_positionals "$command"
        case $kind in
            words\ *) mapfile -t COMPREPLY < <(compgen -W "${kind#words }" -- "$cur") ;;
            files)
                if [[ $cur == *[\'\"\\~\$]* ]]; then
                    compopt -o default 2>/dev/null
                else
                    compopt -o filenames 2>/dev/null
                    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                fi ;;
            layers) _convcalc_layers ;;
        esac
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=$prefix${COMPREPLY[i]}
            COMPREPLY[i]=${COMPREPLY[i]#"$head"}
        done
        # No space after conv: or k= (every reply wants more).
        (( ${#COMPREPLY[@]} )) || return 0
        for i in "${COMPREPLY[@]}"; do [[ $i == *[:=,] ]] || return 0; done
        compopt -o nospace 2>/dev/null
        return 0
    }

    """#
}

// MARK: zsh

/// The zsh script: one `_arguments` call per command, its specs generated from the option
/// tables, and helpers for the commands and layer tokens. Autoloaded from `$fpath` as
/// `_convcalc`, or sourced after `compinit` (it then registers itself with `compdef`).
enum ZshCompletion {
    static var script: String {
        let model = Completions.model
        var parts = ["#compdef convcalc", Completions.header(.zsh, "Installed as\n# share/zsh/site-functions/_convcalc, or, after compinit: source <(convcalc --completions zsh)")]
        parts.append(commandsFunction())
        parts.append(layersFunction())
        parts.append(mainFunction(model))
        parts.append("""
        if [[ $funcstack[1] == _convcalc ]]; then
            _convcalc "$@"
        else
            compdef _convcalc convcalc
        fi

        """)
        return parts.joined(separator: "\n")
    }

    /// `'…'` for zsh: single quotes, a quote inside as `'\''`.
    static func quoted(_ text: String) -> String {
        "'" + text.replacingAll("'", with: "'\\''") + "'"
    }

    /// Text inside `[…]` of an `_arguments` spec, or a `name:description` of `_describe`.
    static func escaped(_ text: String) -> String { text.backslashing("[]:\\") }

    static func action(_ value: CompletionValue) -> String {
        switch value {
        case .free: return " "
        case let .words(words): return "(" + words.joined(separator: " ") + ")"
        case .files: return "_files"
        case .layers: return "_convcalc_layers"
        case .commands: return "_convcalc_commands"
        }
    }

    /// One option's spec: `'(--k --kernel)'{'--k=','--kernel='}'[kernel size]:SIZE: '`;
    /// `exclusive` (top-level options) excludes everything else.
    static func spec(_ option: CompletionOption, exclusive: Bool) -> String {
        let names = option.names.map { name in option.value == nil ? name : name.hasPrefix("--") ? name + "=" : name }
        let text = exclusive ? quoted("(- 1 *)") : option.names.count > 1 ? quoted("(" + option.names.joined(separator: " ") + ")") : ""
        var tail = "[" + escaped(option.summary) + "]"
        if let value = option.value {
            tail += ":" + escaped(option.valueName ?? "VALUE") + ":" + action(value)
        }
        guard names.count > 1 else { return text + quoted(names[0] + tail) }
        return text + "{" + names.map(quoted).joined(separator: ",") + "}" + quoted(tail)
    }

    static func commandsFunction() -> String {
        let entries = Completions.commandList.map { "        " + quoted(escaped($0.name) + ":" + $0.summary) }
        return (["# The commands.", "_convcalc_commands() {", "    local -a commands=("] + entries
                + ["    )", "    _describe -t commands 'convcalc command' commands", "}", ""]).joined(separator: "\n")
    }

    static func layersFunction() -> String {
        let types = Completions.layerTypes
        let entry = { (name: String, summary: String) in "        " + quoted(escaped(name) + ":" + summary) }
        var lines = ["# Layer tokens: TYPE: (TYPE alone when it takes no keys) and the merge words; after",
                     "# TYPE:, the keys of TYPE not given yet.",
                     "_convcalc_layers() {",
                     "    if [[ $PREFIX != *:* ]]; then",
                     "        local -a keyed=("]
        lines += types.filter { !$0.keys.isEmpty }.map { entry($0.name, $0.summary) }
        lines += ["        ) plain=("]
        lines += types.filter { $0.keys.isEmpty }.map { entry($0.name, $0.summary) } + Completions.mergeWords.map(entry)
        lines += ["        )",
                  "        _describe -t layer-types 'layer type' keyed -S : -- plain",
                  "        return",
                  "    fi",
                  "    local type=${PREFIX%%:*}",
                  "    local -a keys",
                  "    compset -P '*[:,]'",
                  "    case $type in"]
        for type in types where !type.keys.isEmpty {
            lines.append("        \(type.name)) keys=(" + type.keys.map { quoted(escaped($0.key) + ":" + $0.meaning) }.joined(separator: " ") + ") ;;")
        }
        lines += ["    esac",
                  "    local -a used=(${${(s:,:)${IPREFIX#*:}}%%=*})",
                  "    (( $#used )) && keys=(${keys:#(${(~j:|:)used}):*})",
                  "    _describe -t layer-keys \"key of $type\" keys -S =",
                  "}", ""]
        return lines.joined(separator: "\n")
    }

    static func mainFunction(_ model: [CompletionCommand]) -> String {
        let top = model.first { $0.name.isEmpty }!
        var lines = ["_convcalc() {",
                     "    local curcontext=$curcontext state state_descr line ret=1",
                     "    typeset -A opt_args",
                     "    _arguments -C \\"]
        lines += top.options.map { "        " + spec($0, exclusive: true) + " \\" }
        lines += ["        '1: :_convcalc_commands' \\",
                  "        '*:: :->command' && return",
                  "    curcontext=${curcontext%:*:*}:convcalc-$words[1]:",
                  "    case $words[1] in"]
        for command in model where !command.name.isEmpty {
            lines.append("        \(command.name))")
            lines.append("            _arguments -S \\")
            lines += command.options.map { "                " + spec($0, exclusive: false) + " \\" }
            let positional = command.positionals == .commands ? "'1:command:_convcalc_commands'"
                : quoted("*:" + (command.positionals == .layers ? "layer" : "file") + ":" + action(command.positionals))
            lines.append("                \(positional) && ret=0 ;;")
        }
        lines += ["    esac", "    return ret", "}", ""]
        return lines.joined(separator: "\n")
    }
}

// MARK: fish

/// The fish script: one `complete` line per option row of each command, guarded by the
/// command the line has, and a function for layer tokens.
enum FishCompletion {
    static var script: String {
        let model = Completions.model
        var lines = [Completions.header(.fish, "Installed as\n# share/fish/vendor_completions.d/convcalc.fish, or: convcalc --completions fish | source"),
                     helpers, layersFunction(), "complete -c convcalc -f"]
        for (name, summary) in Completions.commandList {
            lines.append("complete -c convcalc -n '__convcalc_is \"\"' -a \(name) -d \(quoted(summary))")
        }
        for command in model {
            let condition = quoted("__convcalc_is \"\(command.name)\"")
            for option in command.options { lines.append("complete -c convcalc -n \(condition) " + flags(option)) }
            switch command.positionals {
            case .layers: lines.append("complete -c convcalc -n \(condition) -a '(__convcalc_layers)'")
            case .files: lines.append("complete -c convcalc -n \(condition) -F")
            case .commands where !command.name.isEmpty:
                lines.append("complete -c convcalc -n \(condition) -a \(quoted(Completions.commandList.map(\.name).joined(separator: " ")))")
            default: break
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `'…'` for fish: `\` and `'` escaped.
    static func quoted(_ text: String) -> String {
        "'" + text.replacingAll("\\", with: "\\\\").replacingAll("'", with: "\\'") + "'"
    }

    /// `-s q -l quiet -d '…'`, with `-x -a '…'` (words), `-x` (free text) or `-r -F` (files).
    /// Each word ends in an empty description (`zeros\t`), or fish would repeat the option's.
    static func flags(_ option: CompletionOption) -> String {
        var parts = option.names.map { name in
            name.hasPrefix("--") ? "-l " + name.dropFirst(2) : name.count == 2 ? "-s " + name.dropFirst() : "-o " + name.dropFirst()
        }
        switch option.value {
        case nil: break
        case let .words(words)?: parts += ["-x", "-a", quoted(words.map { $0 + "\\t" }.joined(separator: " "))]
        case .files?: parts += ["-r", "-F"]
        default: parts.append("-x")
        }
        return (parts + ["-d", quoted(option.summary)]).joined(separator: " ")
    }

    static let helpers = """
    # Whether the line's command (its first word, when not an option) is $argv[1]; "" before one.
    function __convcalc_is
        set -l words (commandline -opc)
        set -l command
        if set -q words[2]; and not string match -q -- '-*' $words[2]
            set command $words[2]
        end
        test "$command" = "$argv[1]"
    end

    """

    static func layersFunction() -> String {
        let types = Completions.layerTypes
        var lines = ["# Layer tokens: TYPE: (TYPE alone when it takes no keys) and the merge words; after",
                     "# TYPE:, the keys of TYPE not given yet.",
                     "function __convcalc_layers",
                     "    set -l token (commandline -ct)",
                     "    if not string match -q -- '*:*' $token"]
        for (word, summary) in types.map({ ($0.word, $0.summary) }) + Completions.mergeWords.map({ ($0.name, $0.summary) }) {
            lines.append("        printf '%s\\t%s\\n' \(word) \(quoted(summary))")
        }
        lines += ["        return", "    end", "    set -l keys", "    switch (string split -m 1 : -- $token)[1]"]
        for type in types where !type.keys.isEmpty {
            lines.append("        case \(type.name)")
            lines.append("            set keys " + type.keys.map { "\($0.key) \(quoted($0.meaning))" }.joined(separator: " "))
        }
        lines += ["    end",
                  "    set -l given (string replace -r '[^:,]*$' '' -- $token)",
                  "    for i in (seq 1 2 (count $keys))",
                  "        string match -qr -- \"[:,]$keys[$i]=\" $token; or printf '%s%s=\\t%s\\n' $given $keys[$i] $keys[(math $i + 1)]",
                  "    end",
                  "end", ""]
        return lines.joined(separator: "\n")
    }
}
