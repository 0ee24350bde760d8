use super::*;

/// (line, depth, kind, name) of every symbol.
fn shape(outline: &Outline) -> Vec<(usize, usize, Kind, &str)> {
    outline
        .symbols
        .iter()
        .map(|s| (s.line, s.depth, s.kind, s.name.as_str()))
        .collect()
}

fn of(path: &str, content: &str) -> Outline {
    outline(path, content).unwrap_or_else(|| panic!("{path} is outlined"))
}

#[test]
fn python_classes_methods_functions_and_docstrings() {
    let text = include_str!("../../../../tests/fixtures/projects/py-shop/shop/orders.py");
    let o = of("shop/orders.py", text);
    assert_eq!(o.language, Language::Python);
    assert_eq!(
        shape(&o),
        vec![
            (14, 0, Kind::Class, "Line"),
            (21, 1, Kind::Method, "amount_cents"),
            (25, 0, Kind::Function, "build_lines"),
            (37, 0, Kind::Function, "order_total"),
        ]
    );
    assert_eq!(o.lines, 59);
    assert_eq!(
        o.enclosing(44).map(|s| s.name.as_str()),
        Some("order_total")
    );
    assert_eq!(
        o.enclosing(22).map(|s| s.name.as_str()),
        Some("amount_cents")
    );
    assert_eq!(o.enclosing(3), None);
    let rendered = o.render(&[44]);
    assert!(
        rendered.contains("37  def order_total(order):  <- line 44\n"),
        "{rendered}"
    );
    assert!(
        rendered.contains("21    def amount_cents(self):\n"),
        "{rendered}"
    );

    // Commented-out code and docstrings are not declarations.
    let text = "async def fetch(url):\n    \"\"\"Fetch.\n\n    def not_this(x):\n    \"\"\"\n    # def nor_this():\n    def inner(y):\n        pass\n";
    let o = of("a.py", text);
    assert_eq!(
        shape(&o),
        vec![
            (1, 0, Kind::Function, "fetch"),
            (7, 1, Kind::Function, "inner")
        ]
    );
}

#[test]
fn javascript_and_typescript() {
    let text = include_str!("../../../../tests/fixtures/projects/node-cart/src/shipping.js");
    let o = of("src/shipping.js", text);
    assert_eq!(
        shape(&o),
        vec![
            (13, 0, Kind::Function, "zoneFor"),
            (21, 0, Kind::Function, "shippingCost"),
        ]
    );

    let text = r#"import { api } from "./api";

/* function commentedOut() {
   still a comment */
export interface Cart {
  items: Item[];
}
export type Money = number;
export enum Status { Open, Closed }

export default class CartView extends View {
  private total = 0;
  constructor(
    private readonly api: Api,
  ) {
    super();
  }

  async render(items: Item[]): Promise<void> {
    if (items.length === 0) {
      return;
    }
    this.update(items);
  }

  static get empty() {
    return new CartView(api);
  }

  handle = (event) => {
    console.log(event);
  };
}

export async function loadCart(id) {
  return api.get(id);
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
export const fetchUser = async (id: string): Promise<User> => {
  return api.get(id);
};
module.exports.legacy = function (x) {
  return x;
};
"#;
    let o = of("src/cart.ts", text);
    assert_eq!(
        shape(&o),
        vec![
            (5, 0, Kind::Interface, "Cart"),
            (8, 0, Kind::Type, "Money"),
            (9, 0, Kind::Enum, "Status"),
            (11, 0, Kind::Class, "CartView"),
            (13, 1, Kind::Method, "constructor"),
            (19, 1, Kind::Method, "render"),
            (26, 1, Kind::Method, "empty"),
            (30, 1, Kind::Method, "handle"),
            (35, 0, Kind::Function, "loadCart"),
            (39, 0, Kind::Function, "sum"),
            (40, 0, Kind::Function, "fetchUser"),
            (43, 0, Kind::Function, "legacy"),
        ]
    );
}

#[test]
fn rust_items_impls_and_methods() {
    let text = r#"//! A module.

/// Money.
pub struct Cents(pub u64);

pub(crate) enum Status {
    Open,
}

pub trait Priced {
    fn price(&self) -> Cents;
}

impl<T: Priced> Priced for Vec<T> {
    fn price(&self) -> Cents {
        // fn not_this() {}
        Cents(self.iter().map(|t| t.price().0).sum())
    }
}

pub async fn checkout(cart: &Cart) -> Result<(), Error> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn totals() {}
}
"#;
    let o = of("src/cart.rs", text);
    assert_eq!(
        shape(&o),
        vec![
            (4, 0, Kind::Struct, "Cents"),
            (6, 0, Kind::Enum, "Status"),
            (10, 0, Kind::Trait, "Priced"),
            (11, 1, Kind::Method, "price"),
            (14, 0, Kind::Impl, "Priced for Vec<T>"),
            (15, 1, Kind::Method, "price"),
            (21, 0, Kind::Function, "checkout"),
            (26, 0, Kind::Module, "tests"),
            (28, 1, Kind::Function, "totals"),
        ]
    );
}

#[test]
fn go_functions_methods_and_types() {
    let text = r#"package cart

// Cart holds items.
type Cart struct {
	Items []Item
}

type Pricer interface {
	Price() int
}

type Cents int

func New() *Cart {
	return &Cart{}
}

func (c *Cart) Total(tax float64) int {
	total := 0
	return total
}
"#;
    let o = of("cart/cart.go", text);
    assert_eq!(
        shape(&o),
        vec![
            (4, 0, Kind::Struct, "Cart"),
            (8, 0, Kind::Interface, "Pricer"),
            (12, 0, Kind::Type, "Cents"),
            (14, 0, Kind::Function, "New"),
            (18, 0, Kind::Method, "Total"),
        ]
    );
}

#[test]
fn java_classes_methods_and_constructors() {
    let text = r#"package com.shop.orders;

import java.util.List;

/**
 * Orders. public void notThis() {
 */
@Service
public class OrderService {
    private static final Map<String, Integer> PRICES = new HashMap<>();
    private final Repo repo;

    public OrderService(Repo repo) {
        this.repo = repo;
    }

    @Override
    public long total(Order order) throws PricingException {
        long sum = compute(order);
        return sum;
    }

    static <T> List<T> firstOf(List<List<T>> xs) {
        return xs.get(0);
    }

    interface Listener {
        void onOrder(Order o);
    }

    enum Status { OPEN, CLOSED }
}
"#;
    let o = of("src/main/java/com/shop/orders/OrderService.java", text);
    assert_eq!(
        shape(&o),
        vec![
            (9, 0, Kind::Class, "OrderService"),
            (13, 1, Kind::Method, "OrderService"),
            (18, 1, Kind::Method, "total"),
            (23, 1, Kind::Method, "firstOf"),
            (27, 1, Kind::Interface, "Listener"),
            (28, 2, Kind::Method, "onOrder"),
            (31, 1, Kind::Enum, "Status"),
        ]
    );
}

#[test]
fn ruby_classes_modules_and_defs() {
    let text = r#"# frozen_string_literal: true

module Shop
  class Order < ApplicationRecord
    def self.find_open(id)
      where(id: id).first
    end

    def total?
      true
    end

=begin
    def not_this
=end
    def ==(other)
      id == other.id
    end
  end
end
"#;
    let o = of("app/models/order.rb", text);
    assert_eq!(
        shape(&o),
        vec![
            (3, 0, Kind::Module, "Shop"),
            (4, 1, Kind::Class, "Order"),
            (5, 2, Kind::Method, "self.find_open"),
            (9, 2, Kind::Method, "total?"),
            (16, 2, Kind::Method, "=="),
        ]
    );
}

#[test]
fn unknown_languages_have_no_outline_and_output_is_bounded() {
    assert!(outline("README.md", "# def f():").is_none());
    assert!(outline("Makefile", "all:").is_none());
    assert!(outline("x.c", "int main() {}").is_none());

    let text: String = (0..500)
        .map(|i| format!("def f{i}(x):\n    return {}\n", "y".repeat(400)))
        .collect::<String>()
        + &format!("def long_{}(a):\n", "n".repeat(300));
    let o = of("big.py", &text);
    assert_eq!(o.symbols.len(), MAX_SYMBOLS);
    assert_eq!(o.total, 501);
    assert!(o.render(&[]).ends_with("[381 more symbols not shown]\n"));
    let one_line_bundle = format!("function a() {{}}{}", ";x()".repeat(100_000));
    let o = of("dist/app.min.js", &one_line_bundle);
    assert!(
        o.symbols
            .iter()
            .all(|s| s.declaration.chars().count() <= MAX_DECLARATION_CHARS + 1)
    );
}
