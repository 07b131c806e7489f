//! A bound on how deep the parsed tree can be, checked on the tokens before parsing.
//!
//! The parser limits how deeply parentheses, subqueries and function calls nest, but it
//! builds operator chains (`a + b + c + …`, `x AND y AND …`, `v::int::text…`) in a loop,
//! one tree level per operator. Dropping or printing such a tree recurses once per level,
//! so a chain of some tens of thousands of operators exhausts a thread's stack — inside
//! the parser too, when it drops a partial tree after a syntax error. This check rejects
//! such input before the parser sees it.
//!
//! An operator chain cannot cross a `,` or `;` at its own nesting level, nor a
//! `WHEN`/`THEN`/`ELSE` of its `CASE`, so the text is split into segments at those tokens,
//! with brackets and `CASE … END` opening nested levels. A chain's depth is at most the
//! number of tokens of its segment, and nested chains add up along the path of enclosing
//! segments; the bound is the largest such sum.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::Token;

use crate::LineageError;

/// Most tokens allowed along one path of nested segments. Real queries stay far below
/// (a segment is the text between two commas); the tree depth this allows is safe to drop
/// and print on a 2 MiB thread stack.
pub(crate) const MAX_CHAINED_TOKENS: usize = 10_000;

/// One nesting level: the whole text, a bracket group or a `CASE … END`.
struct Level {
    is_case: bool,
    /// Tokens of the current segment at this level.
    segment_tokens: usize,
    /// The largest bound among groups nested in the current segment.
    segment_nested: usize,
    /// The largest bound among this level's finished segments.
    bound: usize,
}

impl Level {
    fn new(is_case: bool) -> Self {
        Level {
            is_case,
            segment_tokens: 0,
            segment_nested: 0,
            bound: 0,
        }
    }

    fn finish_segment(&mut self) {
        self.bound = self
            .bound
            .max(self.segment_tokens.saturating_add(self.segment_nested));
        self.segment_tokens = 0;
        self.segment_nested = 0;
    }
}

/// The largest number of tokens along one path of nested segments of `tokens`.
pub(crate) fn chained_tokens(tokens: &[Token]) -> usize {
    let mut root = Level::new(false);
    let mut open: Vec<Level> = Vec::new();
    for token in tokens {
        let current = open.last_mut().unwrap_or(&mut root);
        match token {
            Token::Whitespace(_) => {}
            Token::Comma | Token::SemiColon => current.finish_segment(),
            Token::Word(word)
                if current.is_case
                    && matches!(word.keyword, Keyword::WHEN | Keyword::THEN | Keyword::ELSE) =>
            {
                current.finish_segment();
            }
            Token::LParen | Token::LBracket | Token::LBrace => {
                current.segment_tokens += 1;
                open.push(Level::new(false));
            }
            Token::Word(word) if word.keyword == Keyword::CASE => {
                current.segment_tokens += 1;
                open.push(Level::new(true));
            }
            Token::RParen | Token::RBracket | Token::RBrace => close(&mut open, &mut root, false),
            Token::Word(word) if word.keyword == Keyword::END && current.is_case => {
                close(&mut open, &mut root, true);
            }
            _ => current.segment_tokens += 1,
        }
    }
    // Unbalanced input: close what is still open so that its segments count too.
    while !open.is_empty() {
        close(&mut open, &mut root, false);
    }
    root.finish_segment();
    root.bound
}

/// Closes the innermost open level, adding its bound to the enclosing segment. A closing
/// token with nothing open is just a token.
fn close(open: &mut Vec<Level>, root: &mut Level, ends_case: bool) {
    let Some(mut level) = open.pop() else {
        root.segment_tokens += 1;
        return;
    };
    level.finish_segment();
    let parent = open.last_mut().unwrap_or(root);
    parent.segment_nested = parent.segment_nested.max(level.bound);
    if ends_case {
        // `END` itself belongs to the enclosing expression.
        parent.segment_tokens += 1;
    }
}

/// Rejects `tokens` when the tree they parse to could be too deep to handle safely.
pub(crate) fn check(tokens: &[Token]) -> Result<(), LineageError> {
    let chained = chained_tokens(tokens);
    if chained > MAX_CHAINED_TOKENS {
        return Err(LineageError::Unsupported(format!(
            "expressions this long: {chained} tokens chain without a comma \
             (at most {MAX_CHAINED_TOKENS})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::SQLiteDialect;
    use sqlparser::tokenizer::Tokenizer;

    use super::chained_tokens;

    fn bound(sql: &str) -> usize {
        let tokens = Tokenizer::new(&SQLiteDialect {}, sql)
            .tokenize()
            .expect("tokens");
        chained_tokens(&tokens)
    }

    #[test]
    fn commas_split_segments() {
        // `SELECT a` (2) then `b FROM t` (3).
        assert_eq!(bound("SELECT a, b FROM t"), 3);
    }

    #[test]
    fn nested_groups_add_up() {
        // Outer segment `SELECT f ( ) AS x` has 5 tokens; the group `a + b` has 3.
        assert_eq!(bound("SELECT f(a + b) AS x"), 8);
        // `CASE … END` counts as one nested level; its branches are separate segments.
        assert_eq!(
            bound("SELECT CASE WHEN a = 1 THEN b + c + d ELSE e END"),
            3 + 5
        );
    }

    #[test]
    fn long_chains_are_counted() {
        let chain = vec!["a"; 3000].join(" + ");
        assert_eq!(bound(&format!("SELECT {chain}")), 1 + 5999);
        assert_eq!(bound(&format!("SELECT ({chain}")), 2 + 5999);
    }

    #[test]
    fn unbalanced_closers_are_plain_tokens() {
        assert_eq!(bound("SELECT a ) ) END"), 5);
    }
}
